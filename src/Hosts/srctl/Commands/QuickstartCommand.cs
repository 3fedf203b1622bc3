using System.CommandLine;
using System.Diagnostics;
using System.Security.Cryptography;
using SiteRecovery.Compute.Local;
using Spectre.Console;

namespace SiteRecovery.Ctl.Commands;

/// <summary>
/// The main job on one machine: start an all-in-one node (SQLite journal; its data path requires mutual TLS, the shipped
/// default) and an agent, registered with the node first (<c>sragent register</c>), with a boot disk (the tiny guest,
/// seeded through the agent) and a data disk, drive fio through the agent's NBD exports, bookmark (replication ran over
/// TLS on both hops), write more, recover both disks at the bookmark and verify them byte for byte (SHA-256) against the
/// sources as they were at the bookmark; then a test failover of the machine to the bookmark (it boots from the point
/// over NBD and checks its own data) while fio keeps writing, and a cleanup that must leave nothing behind.
/// </summary>
public static class QuickstartCommand
{
    public static Command Create()
    {
        var sizeMb = new Option<int>("--size-mb") { Description = "Size of each protected disk", DefaultValueFactory = _ => 256 };
        var dir = new Option<string?>("--dir") { Description = "Work directory (default .data/quickstart-<time>)" };
        var configuration = new Option<string>("--configuration") { Description = "Build configuration of the hosts", DefaultValueFactory = _ => "Release" };
        var nodeConfig = new Option<string?>("--node-config") { Description = "HOCON overrides for the node (srnode --config), e.g. page-blob replicas (quickstart.sh --azurite)" };
        var cmd = new Command("quickstart", "Protect, replicate, bookmark, recover and verify a machine's two disks, then test-fail it over and clean up, on an all-in-one site") { sizeMb, dir, configuration, nodeConfig };
        cmd.SetAction(async (parse, ct) =>
        {
            try { return await RunAsync(parse.GetValue(sizeMb), parse.GetValue(dir), parse.GetValue(configuration)!, parse.GetValue(nodeConfig), ct); }
            catch (Exception e) when (e is InvalidOperationException or IOException or ApiException or TimeoutException)
            {
                AnsiConsole.MarkupLine($"[red]quickstart failed:[/] {Markup.Escape(e.Message)}");
                return 1;
            }
        });
        return cmd;
    }

    static async Task<int> RunAsync(int sizeMb, string? dir, string configuration, string? nodeConfig, CancellationToken ct)
    {
        if (sizeMb is < 64 or > 65536) throw new InvalidOperationException($"--size-mb {sizeMb} is outside 64..65536 (the boot disk holds a 64 MiB guest)");
        var total = Stopwatch.StartNew();
        var repo = SiteProcesses.FindRepoRoot();
        var work = Path.GetFullPath(dir ?? Path.Combine(repo, ".data", $"quickstart-{DateTime.UtcNow:yyyyMMdd-HHmmss}"));
        Directory.CreateDirectory(work);
        var node = SiteProcesses.HostDll(repo, "SiteRecovery.Node", "srnode", configuration);
        var agentDll = SiteProcesses.HostDll(repo, "SiteRecovery.Agent", "sragent", configuration);
        int psPort = SiteProcesses.FreePort(), mtPort = SiteProcesses.FreePort(), apiPort = SiteProcesses.FreePort(), nbdPort = SiteProcesses.FreePort();
        var apiUrl = $"http://127.0.0.1:{apiPort}";
        var disks = new[] { BootDisk, DataDisk };
        var paths = disks.ToDictionary(d => d, d => Path.Combine(work, d + ".img"));
        var report = new Table().AddColumns("step", "result");
        var guestImage = await GuestImageAsync(repo);
        var phases = new Table().AddColumns("phase", "seconds");
        var phase = Stopwatch.StartNew();
        void Phase(string name) { phases.AddRow(name, $"{phase.Elapsed.TotalSeconds:0.0}"); phase.Restart(); }

        // The listeners' line for each session they accept over mutual TLS: both hops must show one.
        var tlsHops = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(new Dictionary<string, bool>
        {
            [$"process server: TLS session with agent {Machine} "] = false,
            ["master target: TLS session with processserver quickstart-ps "] = false,
        });
        await using var site = new SiteProcesses(work);
        using var api = new ApiClient(apiUrl, Path.Combine(work, "node", "keys", "admin.token"));

        await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async progress =>
            {
                var prep = progress.AddTask("create the boot disk and the data disk", maxValue: disks.Length);
                var rng = new Random(7);
                var seed = new byte[1 << 20];
                foreach (var d in disks)
                {
                    await using var f = new FileStream(paths[d], FileMode.Create);
                    f.SetLength((long)sizeMb << 20);
                    // Data on the data disk before protection, so initial replication has something to carry.
                    if (d == DataDisk)
                        for (var i = 0; i < 8; i++) { rng.NextBytes(seed); f.Position = (long)i * (sizeMb << 20) / 8; f.Write(seed); }
                    prep.Increment(1);
                }

                var start = progress.AddTask("start node (all roles, SQLite journal)", maxValue: 1);
                site.Start("srnode", node, $"run --id quickstart --data \"{Path.Combine(work, "node")}\" --recovery-dir \"{work}\" --ps-listen 127.0.0.1:{psPort} --mt-listen 127.0.0.1:{mtPort} --api {apiUrl}" +
                    (nodeConfig is null ? "" : $" --config \"{Path.GetFullPath(nodeConfig)}\""),
                    line => { foreach (var hop in tlsHops.Keys) if (line.Contains(hop, StringComparison.Ordinal)) tlsHops[hop] = true; });
                await WaitAsync(async () => { await api.GetAsync("api/status", ct); return true; }, TimeSpan.FromSeconds(60), "node API");
                start.Increment(1);

                // The data path requires mutual TLS (the shipped default): the agent registers with the node's
                // configuration server before it runs, as any agent of a site does.
                var register = progress.AddTask("register the agent (its key certified by the site's authority)", maxValue: 1);
                await RegisterAgentAsync(api, apiUrl, agentDll, Path.Combine(work, "agent"), Path.Combine(work, "keys"), ct);
                register.Increment(1);

                var agentTask = progress.AddTask("start agent, initial replication", maxValue: 1);
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                site.Start("sragent", agentDll, $"run --id {Machine} {string.Join(" ", disks.Select(d => $"--disk {d}=\"{paths[d]}\""))} --nbd 127.0.0.1:{nbdPort} --process-server 127.0.0.1:{psPort} --state-dir \"{Path.Combine(work, "agent")}\" --json",
                    line => { if (line.Contains("\"ready\"")) ready.TrySetResult(); });
                await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
                agentTask.Increment(1);
                Phase("start the site");

                // The machine's boot disk is the tiny guest, written through the agent like any write of a protected
                // machine; the guest's own data and its checksum go in the payload area its init verifies at boot.
                var boot = progress.AddTask("seed the boot disk through the agent (nbdcopy), write the guest's data", maxValue: 2);
                await SiteProcesses.RunToolAsync("nbdcopy", $"\"{guestImage}\" nbd://127.0.0.1:{nbdPort}/{BootDisk}", TimeSpan.FromMinutes(2));
                boot.Increment(1);
                var guestData = new byte[4 << 20];
                rng.NextBytes(guestData);
                var (areaOffset, area) = GuestPayload.Area(guestData);
                var areaFile = Path.Combine(work, "guest-payload.bin");
                await File.WriteAllBytesAsync(areaFile, area, ct);
                await SiteProcesses.RunToolAsync("qemu-io", $"-f raw nbd://127.0.0.1:{nbdPort}/{BootDisk} -c \"write -s {areaFile} {areaOffset} {area.Length}\"", TimeSpan.FromMinutes(1));
                var guestSha = GuestPayload.Sha256Hex(guestData);
                boot.Increment(1);

                var fio = progress.AddTask("fio random writes with verify, data disk", maxValue: 1);
                var ioMb = Math.Min(sizeMb, 128);
                var sw = Stopwatch.StartNew();
                await SiteProcesses.RunToolAsync("fio", FioArgs(DataDisk, nbdPort, sizeMb, $"--io_size={ioMb}M --verify=crc32c --do_verify=1 --verify_state_save=0"), TimeSpan.FromMinutes(3));
                fio.Increment(1);
                report.AddRow("fio through NBD", $"{ioMb} MiB random 64 KiB writes on {DataDisk}, verified, {ioMb / sw.Elapsed.TotalSeconds:0} MB/s");
                Phase("seed the boot disk, fio on the data disk");

                var bm = progress.AddTask("bookmark both disks (durable at the target)", maxValue: 1);
                sw.Restart();
                var bookmark = await api.PostAsync("api/bookmarks", new { name = Bookmark, disks, timeoutSeconds = 120 }, ct);
                if (tlsHops.Where(h => !h.Value).Select(h => h.Key.Trim()).ToList() is { Count: > 0 } plainHops)
                    throw new InvalidOperationException($"the node's log shows no {string.Join(" and no ", plainHops)}: replication did not run over mutual TLS");
                report.AddRow("data path", "[green]mutual TLS[/] on both hops (agent → process server → master target), the agent registered");
                report.AddRow($"bookmark {Bookmark}", string.Join(", ", disks.Select(d => $"{d} #{bookmark["sequences"]![d]}")) + $" ({sw.Elapsed.TotalSeconds:0.0} s incl. catch-up)");
                bm.Increment(1);

                var expected = new Dictionary<string, string>();
                var hash = progress.AddTask("hash sources at the bookmark", maxValue: disks.Length);
                foreach (var d in disks) { expected[d] = await Sha256Async(paths[d], ct); hash.Increment(1); }

                // Overwrites the boot disk's first 4 MiB (its boot sector): a machine failed over to the bookmark still boots.
                var after = progress.AddTask("write after the bookmark (must not appear)", maxValue: 1);
                await SiteProcesses.RunToolAsync("qemu-io", $"-f raw nbd://127.0.0.1:{nbdPort}/{BootDisk} -c \"write -P 0x5a 0 4M\"", TimeSpan.FromMinutes(1));
                after.Increment(1);

                var rec = progress.AddTask("recover both disks at the bookmark", maxValue: disks.Length);
                foreach (var d in disks)
                {
                    var output = Path.Combine(work, d + ".recovered.img");
                    var r = await api.PostAsync("api/recover", new { disk = d, bookmark = Bookmark, output }, ct);
                    var actual = await Sha256Async(output, ct);
                    var ok = actual == expected[d] && r["sha256"]!.ToString() == actual;
                    report.AddRow($"verify {d}", ok ? $"[green]byte-equal[/] sha256 {actual[..16]}… ({r["deltas"]} deltas, {r["seconds"]!.GetValue<double>():0.00} s)" : $"[red]MISMATCH[/] source {expected[d][..16]}… recovered {actual[..16]}…");
                    if (!ok) throw new InvalidOperationException($"{d}: recovered image differs from the source at the bookmark");
                    File.Delete(output);
                    rec.Increment(1);
                }
                Phase("bookmark, recover both disks, verify");

                // The test failover: the machine boots from its recovery point over NBD in an isolated network while
                // fio keeps writing to its data disk at the source; the guest checks its own data on its console.
                var drill = progress.AddTask("test failover: boot the machine from its bookmark, guest verifies", maxValue: 1);
                await api.PostAsync("api/recovery-plans", new { planId = Plan, vault = Vault, groups = new[] { new { machines = new[] { Machine } } } }, ct);
                using var load = new CancellationTokenSource();
                var background = SiteProcesses.RunToolAsync("fio", FioArgs(DataDisk, nbdPort, sizeMb, "--time_based --runtime=600"), TimeSpan.FromMinutes(11), load.Token);
                var started = await api.PostAsync("api/failovers", new { plan = Plan, kind = "test", point = Bookmark }, ct);
                var jobId = started["jobId"]!.ToString();
                var job = await UntilAsync(api, jobId, s => s is "Completed" or "StepFailed", TimeSpan.FromMinutes(4), ct);
                if (job["status"]!.ToString() != "Completed")
                    throw new InvalidOperationException($"test failover {jobId} did not complete: {string.Join(" | ", job["history"]!.AsArray().Select(h => h!.ToString()))}");
                var drillReport = job["report"]!;
                var m = drillReport["machines"]![0]!;
                var guest = m["guestCheck"]?.ToString() ?? "";
                if (!guest.Contains($"sha256={guestSha}", StringComparison.Ordinal))
                    throw new InvalidOperationException($"the guest's own check is '{guest}', expected its data's sha256 {guestSha}");
                var sums = m["disks"]!.AsArray();
                foreach (var d in sums)
                    if (d!["bootedSha256"]!.ToString() != expected[d["diskId"]!.ToString()] || d["replaySha256"]!.ToString() != expected[d["diskId"]!.ToString()])
                        throw new InvalidOperationException($"disk {d["diskId"]} at the point: booted {d["bootedSha256"]}, replay {d["replaySha256"]}, source {expected[d["diskId"]!.ToString()]}");
                report.AddRow("test failover", $"[green]booted[/] from {Bookmark} in {m["rtoMs"]!.GetValue<long>() / 1000.0:0.0} s ({m["accelerator"]}); guest: {Markup.Escape(guest)}; " +
                    $"both disks' checksums agree on two paths and with the source; drill report {(drillReport["passed"]!.GetValue<bool>() ? "[green]passed[/]" : "[red]failed[/]")}");
                drill.Increment(1);
                Phase("test failover (boot under " + m["accelerator"] + ")");

                var clean = progress.AddTask("cleanup: machine, exports, overlays", maxValue: 1);
                var pid = job["machines"]![0]!["pid"]!.GetValue<int>();
                await api.PostAsync($"api/failovers/{jobId}/cleanup", new { reason = "quickstart done" }, ct);
                job = await UntilAsync(api, jobId, s => s is "CleanedUp", TimeSpan.FromMinutes(1), ct);
                load.Cancel();
                try { await background; } catch (OperationCanceledException) { }
                var left = new List<string>();
                if (Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("qemu", StringComparison.Ordinal)) left.Add($"qemu pid {pid}");
                foreach (var d in disks)
                    if ((await api.GetAsync($"api/disks/{d}/exports", ct)).AsArray().Count > 0) left.Add($"an export of {d}");
                var overlays = Path.Combine(work, "node", "master-target", "exports");
                if (Directory.Exists(overlays) && Directory.EnumerateFiles(overlays).Any()) left.Add($"files in {overlays}");
                if (left.Count > 0) throw new InvalidOperationException($"cleanup left {string.Join(", ", left)}");
                report.AddRow("cleanup", $"[green]nothing left[/] (machine stopped, exports and overlays gone); fio kept writing to {DataDisk} throughout");
                clean.Increment(1);
                Phase("cleanup");
            });

        // With the site stopped (its logs complete), no secret of its keystore may be anywhere else in its directory.
        await site.DisposeAsync();
        var scan = await SiteProcesses.RunToolAsync("bash", $"\"{Path.Combine(repo, "tests", "secret-scan.sh")}\" \"{work}\"", TimeSpan.FromMinutes(2), ct);
        report.AddRow("secret scan", Markup.Escape(scan.Trim().Split('\n')[^1]));
        Phase("stop the site, secret scan");
        AnsiConsole.Write(phases);
        report.AddRow("total", $"{total.Elapsed.TotalSeconds:0.0} s; logs and images in {Markup.Escape(work)}");
        AnsiConsole.Write(report);
        AnsiConsole.MarkupLine("[green bold]quickstart passed[/]: both disks recovered at the bookmark byte for byte, and the machine failed over to it, booted and verified");
        return 0;
    }

    const string Machine = "quickstart-vm", BootDisk = "disk1", DataDisk = "disk2", Bookmark = "quickstart-1", Plan = "quickstart-plan",
        Vault = "quickstart", ConfigurationServer = "quickstart-cs";

    /// <summary>
    /// Makes the site's vault, a registration key and a configuration server on the node, keeps the server's passphrase
    /// in <paramref name="keys"/> (0700, the file 0600: the keystore, which the secret scan holds to), and registers the
    /// agent with <c>sragent register --passphrase-file</c>: the passphrase is never on a command line nor printed.
    /// </summary>
    static async Task RegisterAgentAsync(ApiClient api, string apiUrl, string agentDll, string stateDir, string keys, CancellationToken ct)
    {
        await api.PostAsync("api/vaults", new { name = Vault, region = "WestEurope" }, ct);
        var key = (await api.PostAsync($"api/vaults/{Vault}/keys", new { }, ct))["key"]!.GetValue<string>();
        var server = await api.PostAsync("api/configuration-servers", new { id = ConfigurationServer, registrationKey = key, connectivity = "Internet", endpoints = new[] { new Uri(apiUrl).Authority } }, ct);
        var passphraseFile = Path.Combine(keys, ConfigurationServer + ".passphrase");
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateDirectory(keys);
        SiteRecovery.Contracts.Storage.PrivateFiles.WriteAtomically(passphraseFile, System.Text.Encoding.UTF8.GetBytes(server["passphrase"]!.GetValue<string>()), overwrite: false);
        await SiteProcesses.RunToolAsync("dotnet", $"\"{agentDll}\" register --id {Machine} --api {apiUrl} --configuration-server {ConfigurationServer} " +
            $"--passphrase-file \"{passphraseFile}\" --state-dir \"{stateDir}\"", TimeSpan.FromMinutes(1), ct);
    }

    static string FioArgs(string disk, int port, int sizeMb, string extra) =>
        $"--name={disk} --ioengine=nbd --uri=nbd://127.0.0.1:{port}/{disk} --rw=randwrite --bs=64k --iodepth=8 --size={sizeMb}M {extra} --randrepeat=0 --output-format=terse";

    /// <summary>The tiny bootable guest, built from Debian packages by the test setup and cached; its path is the script's last line.</summary>
    static async Task<string> GuestImageAsync(string repo)
    {
        var output = await SiteProcesses.RunToolAsync("bash", $"\"{Path.Combine(repo, "tests", "images", "build-tiny-guest.sh")}\"", TimeSpan.FromMinutes(5));
        var path = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('/')) ?? "";
        return File.Exists(path) ? path : throw new InvalidOperationException($"the guest image builder printed no image path: {output}");
    }

    static async Task<System.Text.Json.Nodes.JsonNode> UntilAsync(ApiClient api, string jobId, Func<string, bool> done, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var job = await api.GetAsync($"api/failovers/{jobId}", ct);
            if (done(job["status"]!.ToString())) return job;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"failover {jobId} is {job["status"]} after {timeout.TotalSeconds:0} s: {string.Join(" | ", job["history"]!.AsArray().Select(h => h!.ToString()))}");
            await Task.Delay(250, ct);
        }
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
