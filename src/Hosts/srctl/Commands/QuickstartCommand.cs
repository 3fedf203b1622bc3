using System.CommandLine;
using System.Diagnostics;
using System.Security.Cryptography;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// The main job on one machine: start an all-in-one node (SQLite journal) and an agent with two
/// disks, drive fio through the agent's NBD exports, bookmark, write more, recover both disks at the
/// bookmark and verify them byte for byte (SHA-256) against the sources as they were at the bookmark.
/// </summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var sizeMb = new Option<int>("--size-mb") { Description = "Size of each protected disk", DefaultValueFactory = _ => 256 };
        var dir = new Option<string?>("--dir") { Description = "Work directory (default .data/quickstart-<time>)" };
        var configuration = new Option<string>("--configuration") { Description = "Build configuration of the hosts", DefaultValueFactory = _ => "Release" };
        var cmd = new Command("quickstart", "Protect, replicate, bookmark, recover and verify two disks on an all-in-one site") { sizeMb, dir, configuration };
        cmd.SetAction(async (parse, ct) =>
        {
            try { return await RunAsync(parse.GetValue(sizeMb), parse.GetValue(dir), parse.GetValue(configuration)!, ct); }
            catch (Exception e) when (e is InvalidOperationException or IOException or ApiException or TimeoutException)
            {
                AnsiConsole.MarkupLine($"[red]quickstart failed:[/] {Markup.Escape(e.Message)}");
                return 1;
            }
        });
        return cmd;
    }

    static async Task<int> RunAsync(int sizeMb, string? dir, string configuration, CancellationToken ct)
    {
        if (sizeMb is < 16 or > 65536) throw new InvalidOperationException($"--size-mb {sizeMb} is outside 16..65536");
        var total = Stopwatch.StartNew();
        var repo = SiteProcesses.FindRepoRoot();
        var work = Path.GetFullPath(dir ?? Path.Combine(repo, ".data", $"quickstart-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        Directory.CreateDirectory(work);
        var node = SiteProcesses.HostDll(repo, "SiteRecovery.Node", "srnode", configuration);
        var agentDll = SiteProcesses.HostDll(repo, "SiteRecovery.Agent", "sragent", configuration);
        int psPort = SiteProcesses.FreePort(), mtPort = SiteProcesses.FreePort(), apiPort = SiteProcesses.FreePort(), nbdPort = SiteProcesses.FreePort();
        var apiUrl = $"http://127.0.0.1:{apiPort}";
        var disks = new[] { "disk1", "disk2" };
        var paths = disks.ToDictionary(d => d, d => Path.Combine(work, d + ".img"));
        var report = new Table().AddColumns("step", "result");

        await using var site = new SiteProcesses(work);
        using var api = new ApiClient(apiUrl);

        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async progress =>
            {
                var prep = progress.AddTask("create two disks", maxValue: disks.Length);
                var rng = new Random(7);
                var seed = new byte[1 << 20];
                foreach (var d in disks)
                {
                    await using var f = new FileStream(paths[d], FileMode.Create);
                    f.SetLength((long)sizeMb << 20);
                    // Some data before protection, so initial replication has something to carry.
                    for (var i = 0; i < 8; i++) { rng.NextBytes(seed); f.Position = (long)i * (sizeMb << 20) / 8; f.Write(seed); }
                    prep.Increment(1);
                }

                var start = progress.AddTask("start node (all roles, SQLite journal)", maxValue: 1);
                site.Start("srnode", node, $"run --id quickstart --data \"{Path.Combine(work, "node")}\" --ps-listen 127.0.0.1:{psPort} --mt-listen 127.0.0.1:{mtPort} --api {apiUrl}");
                await WaitAsync(async () => { await api.GetAsync("api/status", ct); return true; }, TimeSpan.FromSeconds(60), "node API");
                start.Increment(1);

                var agentTask = progress.AddTask("start agent, initial replication", maxValue: 1);
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                site.Start("sragent", agentDll, $"run --id quickstart-vm {string.Join(" ", disks.Select(d => $"--disk {d}=\"{paths[d]}\""))} --nbd 127.0.0.1:{nbdPort} --process-server 127.0.0.1:{psPort} --state-dir \"{Path.Combine(work, "agent")}\" --json",
                    line => { if (line.Contains("\"ready\"")) ready.TrySetResult(); });
                await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
                agentTask.Increment(1);

                var fio = progress.AddTask("fio random writes with verify, both disks", maxValue: disks.Length);
                var ioMb = Math.Min(sizeMb, 128);
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(disks.Select(async d =>
                {
                    await SiteProcesses.RunToolAsync("fio", $"--name={d} --ioengine=nbd --uri=nbd://127.0.0.1:{nbdPort}/{d} --rw=randwrite --bs=64k --iodepth=8 --size={sizeMb}M --io_size={ioMb}M --verify=crc32c --do_verify=1 --verify_state_save=0 --randrepeat=0 --output-format=terse", TimeSpan.FromMinutes(3));
                    fio.Increment(1);
                }));
                var fioSeconds = sw.Elapsed.TotalSeconds;
                report.AddRow("fio through NBD", $"{disks.Length} x {ioMb} MiB random 64 KiB writes, verified, {2 * ioMb / fioSeconds:0} MB/s total");

                var bm = progress.AddTask("bookmark both disks (durable at the target)", maxValue: 1);
                sw.Restart();
                var bookmark = await api.PostAsync("api/bookmarks", new { name = "quickstart-1", disks, timeoutSeconds = 120 }, ct);
                report.AddRow("bookmark quickstart-1", string.Join(", ", disks.Select(d => $"{d} #{bookmark["sequences"]![d]}")) + $" ({sw.Elapsed.TotalSeconds:0.0} s incl. catch-up)");
                bm.Increment(1);

                var expected = new Dictionary<string, string>();
                var hash = progress.AddTask("hash sources at the bookmark", maxValue: disks.Length);
                foreach (var d in disks) { expected[d] = await Sha256Async(paths[d], ct); hash.Increment(1); }

                var after = progress.AddTask("write after the bookmark (must not appear)", maxValue: 1);
                await SiteProcesses.RunToolAsync("qemu-io", $"-f raw nbd://127.0.0.1:{nbdPort}/disk1 -c \"write -P 0x5a 0 4M\"", TimeSpan.FromMinutes(1));
                after.Increment(1);

                var rec = progress.AddTask("recover both disks at the bookmark", maxValue: disks.Length);
                foreach (var d in disks)
                {
                    var output = Path.Combine(work, d + ".recovered.img");
                    var r = await api.PostAsync("api/recover", new { disk = d, bookmark = "quickstart-1", output }, ct);
                    var actual = await Sha256Async(output, ct);
                    var ok = actual == expected[d] && r["sha256"]!.ToString() == actual;
                    report.AddRow($"verify {d}", ok ? $"[green]byte-equal[/] sha256 {actual[..16]}… ({r["deltas"]} deltas, {r["seconds"]!.GetValue<double>():0.00} s)" : $"[red]MISMATCH[/] source {expected[d][..16]}… recovered {actual[..16]}…");
                    if (!ok) throw new InvalidOperationException($"{d}: recovered image differs from the source at the bookmark");
                    rec.Increment(1);
                }
            });
        report.AddRow("total", $"{total.Elapsed.TotalSeconds:0.0} s; logs and images in {Markup.Escape(work)}");
        AnsiConsole.Write(report);
        AnsiConsole.MarkupLine("[green bold]quickstart passed[/]: both disks recovered at the bookmark, byte for byte");
        return 0;
    }

    static async Task<string> Sha256Async(string path, CancellationToken ct)
    {
        await using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(f, ct));
    }

    static async Task WaitAsync(Func<Task<bool>> probe, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try { if (await probe()) return; }
            catch (Exception e) when (e is ApiException or HttpRequestException) { last = e; }
            await Task.Delay(200);
        }
        throw new TimeoutException($"{what} not ready within {timeout.TotalSeconds:0} s: {last?.Message}");
    }
}
