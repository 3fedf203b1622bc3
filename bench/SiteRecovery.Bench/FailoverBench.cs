using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SiteRecovery.Compute;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// srbench failover: how long a test failover of a 4-machine plan takes on the local target. An all-in-one srnode
/// (SQLite) and 4 sragent processes (machines fb1..fb4), each with one 1 GiB boot disk (sparse) seeded through its agent
/// with the tiny guest and a few MiB of the guest's own data (<see cref="GuestPayload"/>), durable at the replica. A plan
/// with the 4 machines in one boot group; then <c>POST /api/failovers {kind: test, point: latest}</c>, timed from the POST:
/// (a) a machine's disk readable over NBD (the first export to appear, its first 4 KiB read with qemu-io; target 2 s),
/// (b) the first machine booted and (c) all booted (the drill report's per-machine RTO: command to the console's boot
/// marker), (d) all booted and verified (the drill report's completion: guest checks and both checksum paths; target
/// 60 s). Beside it, in the same run, the baseline: four plain qemu boots of the same disk contents from local files,
/// started together, with the same accelerator, memory and CPUs, through the same <see cref="LocalQemuTarget"/> (which
/// takes only NBD URIs, so each local file is served by <c>nbdkit file</c> on a loopback port). Target: the plan's
/// all-booted time within 1.5 × the baseline's.
/// </summary>
public static class FailoverBench
{
    const string Usage = "usage: srbench failover [--runs 1] [--machines 4] [--disk-gib 1] [--payload-mib 4] [--repo DIR] [--keep] [--results DIR]";
    const long MiB = 1 << 20;
    const double FirstReadTargetSeconds = 2, VerifiedTargetSeconds = 60, RatioTarget = 1.5;

    sealed record Machine(string Id, string Disk, string Image, int NbdPort, byte[] GuestData, string GuestSha);

    /// <summary>One run's figures, seconds from the POST (failover) or from the first start (baseline).</summary>
    sealed record RunResult(
        int Run, string JobId, string FirstExportDisk, double FirstDiskReadableS, double FirstBootedS, double AllBootedS,
        double AllVerifiedS, bool VerifiedOk, string Accelerator, Dictionary<string, double> BootedS, Dictionary<string, string?> GuestChecks,
        Dictionary<string, double?> StepSeconds, double BaselineFirstBootedS, double BaselineAllBootedS, Dictionary<string, double> BaselineBootedS,
        double Ratio, double CleanupS, string Load);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        int runs = 1, machineCount = 4, diskGiB = 1, payloadMiB = 4;
        string? repo = null, results = null;
        var keep = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int(int min, int max) => int.TryParse(Value(), out var v) && v >= min && v <= max ? v : throw new ArgumentException($"{args[i - 1]}: a number in {min}..{max}");
                switch (args[i])
                {
                    case "--runs": runs = Int(1, 10); break;
                    case "--machines": machineCount = Int(1, 16); break;
                    case "--disk-gib": diskGiB = Int(1, 16); break;
                    case "--payload-mib": payloadMiB = Int(1, (int)(GuestPayload.MaxDataBytes / MiB)); break;
                    case "--repo": repo = Value(); break;
                    case "--results": results = Value(); break;
                    case "--keep": keep = true; break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench failover: {e.Message}\n{Usage}");
            return 2;
        }
        repo ??= StallBench.FindRepoRoot();
        results ??= Path.Combine(repo, "bench", "results");
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");
        var work = Path.Combine(Path.GetTempPath(), $"srbench-failover-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var children = new List<ChildProcess>();
        var step = "start";
        string? openJob = null;
        NodeApi? api = null;
        try
        {
            step = "build the tiny guest";
            var image = await GuestImageAsync(repo, ct);
            // The accelerator the local target would choose here, and why (the node's own choice is in its drill report).
            step = "probe the accelerator";
            var probe = await new LocalQemuTarget().AcceleratorAsync(ct);
            Console.WriteLine($"test failover of a {machineCount}-machine plan (one boot group), {diskGiB} GiB boot disks with the tiny guest and {payloadMiB} MiB of guest data each; " +
                $"{Environment.ProcessorCount} cores; accelerator here: {probe.Accelerator} ({probe.Reason}); {runs} run(s)");

            step = "start the site";
            int psPort = Net.FreePort(), mtPort = Net.FreePort(), apiPort = Net.FreePort();
            var apiUrl = $"http://127.0.0.1:{apiPort}";
            var node = Child.StartNode("srnode", [nodeDll, "run", "--id", "fbench", "--data", Path.Combine(work, "node"),
                "--ps-listen", $"127.0.0.1:{psPort}", "--mt-listen", $"127.0.0.1:{mtPort}", "--api", apiUrl], work);
            children.Add(node);
            api = new NodeApi(apiUrl, Path.Combine(work, "node"));
            await StallBench.WaitUpAsync(node, api, step, ct);

            var machines = new List<Machine>();
            var seedClock = Stopwatch.StartNew();
            for (var i = 1; i <= machineCount; i++)
            {
                var id = $"fb{i}";
                step = $"seed machine {id}";
                var disk = $"{id}-boot";
                var path = Path.Combine(work, disk + ".img");
                await using (var f = new FileStream(path, FileMode.Create)) f.SetLength((long)diskGiB << 30);
                var nbd = Net.FreePort();
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var agent = Child.Start($"sragent-{id}", "dotnet", [agentDll, "run", "--id", id, "--disk", $"{disk}={path}", "--nbd", $"127.0.0.1:{nbd}",
                    "--process-server", $"127.0.0.1:{psPort}", "--state-dir", Path.Combine(work, $"agent-{id}"), "--json"], work,
                    line => { if (line.Contains("\"ready\"", StringComparison.Ordinal)) ready.TrySetResult(); });
                children.Add(agent);
                try { await ready.Task.WaitAsync(TimeSpan.FromMinutes(2), ct); }
                catch (TimeoutException) { agent.EnsureRunning(step); throw new BenchException(step, $"sragent {id} printed no ready line within 2 min (log {agent.LogPath})"); }
                var uri = $"nbd://127.0.0.1:{nbd}/{disk}";
                // The guest written through the agent like any write of a protected machine, then its data and checksum.
                await Tools.RunAsync("nbdcopy", [image, uri], TimeSpan.FromMinutes(2), step, ct);
                var data = new byte[payloadMiB * MiB];
                new Random(i).NextBytes(data);
                var (offset, area) = GuestPayload.Area(data);
                var areaFile = Path.Combine(work, $"payload-{id}.bin");
                await File.WriteAllBytesAsync(areaFile, area, ct);
                await Tools.RunAsync("qemu-io", ["-f", "raw", uri, "-c", $"write -s {areaFile} {offset} {area.Length}"], TimeSpan.FromMinutes(1), step, ct);
                machines.Add(new Machine(id, disk, path, nbd, data, GuestPayload.Sha256Hex(data)));
            }
            // Durable at the replica: "latest" then covers every write of the seed.
            step = "bookmark the seeded disks";
            foreach (var m in machines) await api.BookmarkAsync($"seeded-{m.Id}", [m.Disk], step, ct);
            Console.WriteLine($"  site up, {machineCount} machines seeded and durable in {seedClock.Elapsed.TotalSeconds:0} s");

            step = "create the vault and the plan";
            await api.PostAsync("api/vaults", new { name = "bench", region = "WestEurope" }, step, ct);
            await api.PostAsync("api/recovery-plans", new { planId = "fbench", vault = "bench", groups = new[] { new { machines = machines.Select(m => m.Id).ToArray() } } }, step, ct);

            var all = new List<RunResult>();
            for (var run = 1; run <= runs; run++)
            {
                step = $"run {run}: test failover";
                var (result, job) = await FailoverAsync(api, node, machines, run, s => openJob = s, ct);
                step = $"run {run}: failover cleanup";
                var cleanClock = Stopwatch.StartNew();
                await api.PostAsync($"api/failovers/{job}/cleanup", new { reason = "bench run done" }, step, ct);
                await UntilAsync(api, node, job, s => s == "CleanedUp", TimeSpan.FromMinutes(2), step, ct);
                openJob = null;
                result = result with { CleanupS = cleanClock.Elapsed.TotalSeconds };
                foreach (var m in machines)
                    if ((await api.GetAsync($"api/disks/{m.Disk}/exports", step, ct)).AsArray().Count > 0)
                        throw new BenchException(step, $"the cleanup of {job} left an export of {m.Disk}");

                step = $"run {run}: baseline (plain qemu boots)";
                var (baseFirst, baseAll, baseBooted) = await BaselineAsync(work, image, machines, result.Accelerator, diskGiB, run, step, ct);
                result = result with
                {
                    BaselineFirstBootedS = baseFirst, BaselineAllBootedS = baseAll, BaselineBootedS = baseBooted,
                    Ratio = result.AllBootedS / baseAll, Load = StallBench.LoadAverage(),
                };
                all.Add(result);
                Print(result, probe, machineCount);
            }

            if (runs > 1)
            {
                Console.WriteLine($"{"run",4} {"disk read s",12} {"first boot s",13} {"all booted s",13} {"verified s",11} {"baseline s",11} {"ratio",6}");
                foreach (var r in all)
                    Console.WriteLine($"{r.Run,4} {r.FirstDiskReadableS,12:0.00} {r.FirstBootedS,13:0.0} {r.AllBootedS,13:0.0} {r.AllVerifiedS,11:0.0} {r.BaselineAllBootedS,11:0.0} {r.Ratio,6:0.00}");
            }
            Directory.CreateDirectory(results);
            var file = Path.Combine(results, $"{DateTime.UtcNow:yyyy-MM-dd}-failover.json");
            var json = JsonSerializer.Serialize(new
            {
                time = DateTime.UtcNow, machines = machineCount, diskGiB, payloadMiB, cores = Environment.ProcessorCount,
                accelerator = new { probe.Accelerator, probe.Reason },
                baselineMethod = "LocalQemuTarget (the failover's qemu command line) on local raw copies, each served by nbdkit file on a loopback port",
                targets = new { firstDiskReadableS = FirstReadTargetSeconds, allBootedVerifiedS = VerifiedTargetSeconds, ratioToBaseline = RatioTarget },
                runs = all,
            }, new JsonSerializerOptions { WriteIndented = true });
            await File.WriteAllTextAsync(file, json, ct);
            Console.WriteLine($"written: {file}");
            return all.All(Met) ? 0 : 3;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"BENCH FAILED in step '{e.Step}': {e.Message}");
            keep = true;
            return 1;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"BENCH FAILED in step '{step}' (unexpected {e.GetType().Name}): {e}");
            keep = true;
            return 1;
        }
        finally
        {
            if (openJob is not null && api is not null)
            {
                // A failed run still stops its machines and discards its exports.
                try { await api.PostAsync($"api/failovers/{openJob}/cleanup", new { reason = "bench failed" }, "cleanup after a failure", CancellationToken.None); await Task.Delay(3000); }
                catch (Exception e) when (e is BenchException or HttpRequestException) { Console.Error.WriteLine($"cleanup of {openJob} after the failure: {e.Message}"); }
            }
            api?.Dispose();
            foreach (var c in Enumerable.Reverse(children)) await c.DisposeAsync();
            if (!keep) { try { Directory.Delete(work, true); } catch (IOException) { } }
            else Console.WriteLine($"work directory kept: {work}");
        }
    }

    static string GuestOk(Machine m) => $"SR-CHECK OK bytes={m.GuestData.Length} sha256={m.GuestSha}";

    static bool Met(RunResult r) => r.FirstDiskReadableS <= FirstReadTargetSeconds && r.AllVerifiedS <= VerifiedTargetSeconds && r.Ratio <= RatioTarget && r.VerifiedOk;

    static string Verdict(bool met) => met ? "met" : "MISSED";

    /// <summary>Starts the test failover and times it from the POST; returns once the job completed (not yet cleaned up).</summary>
    static async Task<(RunResult, string)> FailoverAsync(NodeApi api, ChildProcess node, IReadOnlyList<Machine> machines, int run, Action<string> opened, CancellationToken ct)
    {
        var step = $"run {run}: test failover";
        var posted = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        var started = await api.PostAsync("api/failovers", new { plan = "fbench", kind = "test", point = "latest" }, step, ct);
        var job = started["jobId"]!.GetValue<string>();
        opened(job);

        // (a) The exports exist before qemu starts; the first one to appear is read like a booting machine would.
        string? firstDisk = null, uri = null;
        while (uri is null)
        {
            foreach (var m in machines)
            {
                var exports = (await api.GetAsync($"api/disks/{m.Disk}/exports", step, ct)).AsArray();
                if (exports.Count > 0) { firstDisk = m.Disk; uri = exports[0]!["uri"]!.GetValue<string>(); break; }
            }
            if (uri is null)
            {
                node.EnsureRunning(step);
                if (clock.Elapsed > TimeSpan.FromMinutes(2)) throw new BenchException(step, $"no export of any machine's disk 2 min after the POST of {job}");
                await Task.Delay(10, ct);
            }
        }
        var read = await Tools.RunAsync("qemu-io", ["-r", "-f", "raw", uri, "-c", "read -v 0 4096"], TimeSpan.FromMinutes(1), step + " (first read over NBD)", ct);
        var firstRead = clock.Elapsed.TotalSeconds;
        // The guest's MBR: the boot signature 55 aa at bytes 510-511.
        if (!read.StdOut.Contains("read 4096/4096", StringComparison.Ordinal) || !read.StdOut.Contains("55 aa", StringComparison.Ordinal))
            throw new BenchException(step, $"the first 4 KiB of {firstDisk} over {uri} are not the guest's boot sector: {Tools.Tail(read.StdOut, 400)}");

        var done = await UntilAsync(api, node, job, s => s is "Completed" or "StepFailed", TimeSpan.FromMinutes(15), step, ct);
        if (done["status"]!.GetValue<string>() != "Completed")
            throw new BenchException(step, $"{job} is {done["status"]}: {string.Join(" | ", done["history"]!.AsArray().Select(h => h!.ToString()))}");
        var report = done["report"] ?? throw new BenchException(step, $"{job} completed without a drill report");
        var requested = report["requestedUnixMs"]!.GetValue<long>();
        var postMs = posted.ToUnixTimeMilliseconds();
        var booted = new Dictionary<string, double>();
        var guest = new Dictionary<string, string?>();
        var accelerators = new HashSet<string>();
        foreach (var m in report["machines"]!.AsArray())
        {
            var id = m!["machineId"]!.GetValue<string>();
            var rto = m["rtoMs"]?.GetValue<long>() ?? throw new BenchException(step, $"{id} did not boot: {m["failure"]}");
            // The report counts from the job's request time; the bench counts from its POST (a few ms earlier).
            booted[id] = (requested + rto - postMs) / 1000.0;
            guest[id] = m["guestCheck"]?.GetValue<string>();
            accelerators.Add(m["accelerator"]!.GetValue<string>());
        }
        if (accelerators.Count != 1) throw new BenchException(step, $"the machines ran under different accelerators: {string.Join(", ", accelerators)}");
        var steps = report["steps"]!.AsArray().ToDictionary(s => $"{s!["index"]}. {s["name"]}", s => s!["durationMs"]?.GetValue<long>() / 1000.0);
        var verified = (report["completedUnixMs"]!.GetValue<long>() - postMs) / 1000.0;
        // Verified: the drill report passed and every guest found its own data (the report also lets a guest's NONE pass).
        var checkedOk = machines.All(m => guest.GetValueOrDefault(m.Id) == GuestOk(m));
        return (new RunResult(run, job, firstDisk!, firstRead, booted.Values.Min(), booted.Values.Max(), verified, report["passed"]!.GetValue<bool>() && checkedOk,
            accelerators.Single(), booted, guest, steps, 0, 0, [], 0, 0, ""), job);
    }

    /// <summary>
    /// Four plain boots of the same disk contents from local files, started together through <see cref="LocalQemuTarget"/>
    /// forced to the failover's accelerator, with the node's default memory and CPUs; seconds from the first start.
    /// </summary>
    static async Task<(double First, double All, Dictionary<string, double> Booted)> BaselineAsync(
        string work, string image, IReadOnlyList<Machine> machines, string accelerator, int diskGiB, int run, string step, CancellationToken ct)
    {
        var dir = Path.Combine(work, $"baseline-{run}");
        Directory.CreateDirectory(dir);
        var servers = new List<ChildProcess>();
        var target = new LocalQemuTarget(new LocalTargetOptions { Accelerator = accelerator });
        var handles = new List<MachineHandle>();
        try
        {
            var disks = new List<(Machine M, string Uri)>();
            foreach (var m in machines)
            {
                // The disk the machine failed over with: the guest image, then its payload area, in a sparse file of the same size.
                var copy = Path.Combine(dir, m.Disk + ".img");
                File.Copy(image, copy);
                var (offset, area) = GuestPayload.Area(m.GuestData);
                await using (var f = new FileStream(copy, FileMode.Open, FileAccess.Write))
                {
                    f.SetLength((long)diskGiB << 30);
                    f.Position = offset;
                    await f.WriteAsync(area, ct);
                }
                var port = Net.FreePort();
                var server = Child.Start($"nbdkit-{m.Id}-{run}", "nbdkit", ["-f", "-i", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "file", copy], dir);
                servers.Add(server);
                await Net.WaitForPortAsync(port, TimeSpan.FromSeconds(30), step, server, ct);
                disks.Add((m, $"nbd://127.0.0.1:{port}/{m.Disk}"));
            }
            var clock = Stopwatch.StartNew();
            var boots = disks.Select(async d =>
            {
                var spec = new MachineSpec(d.M.Id, $"base-{d.M.Id}", 256, 1, "bios", NetworkMode.Isolated, null, Path.Combine(dir, d.M.Id));
                var handle = await target.StartAsync(spec, [new DiskSource(d.M.Disk, d.Uri, (long)diskGiB << 30)], ct);
                lock (handles) handles.Add(handle);
                var boot = await target.WaitBootedAsync(handle, GuestPayload.BootedMarker, TimeSpan.FromMinutes(10), ct);
                if (!boot.Booted) throw new BenchException(step, $"baseline {d.M.Id}: {boot.Failure}");
                var check = boot.ConsoleTail.LastOrDefault(l => l.Contains("SR-CHECK", StringComparison.Ordinal))?.Trim();
                // A guest that booted without checking its data still booted: the figure stands, the line says so.
                if (check != GuestOk(d.M)) Console.WriteLine($"  note: baseline {d.M.Id} booted but its guest check is '{check}' (console {handle.ConsolePath})");
                return (d.M.Id, Seconds: clock.Elapsed.TotalSeconds);
            }).ToList();
            var done = await Task.WhenAll(boots);
            var booted = done.ToDictionary(b => b.Id, b => b.Seconds);
            return (booted.Values.Min(), booted.Values.Max(), booted);
        }
        finally
        {
            foreach (var h in handles) await target.StopAsync(h, CancellationToken.None);
            foreach (var s in servers) await s.DisposeAsync();
        }
    }

    static void Print(RunResult r, AcceleratorChoice probe, int machines)
    {
        var accel = r.Accelerator == probe.Accelerator
            ? r.Accelerator == Accelerators.Tcg ? $"tcg ({probe.Reason})" : $"{r.Accelerator} ({probe.Reason})"
            : $"{r.Accelerator} (the node's choice; this process's probe said {probe.Accelerator}: {probe.Reason})";
        Console.WriteLine();
        Console.WriteLine($"run {r.Run}: {r.JobId}, accelerator {accel}");
        Console.WriteLine($"  {"figure",-58} {"seconds",8}  {"target",-16} verdict");
        Console.WriteLine($"  {"(a) first machine's disk readable over NBD (" + r.FirstExportDisk + ")",-58} {r.FirstDiskReadableS,8:0.00}  {"< 2 s",-16} {Verdict(r.FirstDiskReadableS <= FirstReadTargetSeconds)}");
        Console.WriteLine($"  {"(b) first machine booted",-58} {r.FirstBootedS,8:0.0}  {"-",-16} information");
        Console.WriteLine($"  {$"(c) all {machines} machines booted",-58} {r.AllBootedS,8:0.0}  {"-",-16} information");
        foreach (var g in r.GuestChecks.Where(g => g.Value is null || !g.Value.Contains("SR-CHECK OK", StringComparison.Ordinal)))
            Console.WriteLine($"  note: {g.Key} booted but its guest check is '{g.Value}': not verified");
        Console.WriteLine($"  {"(d) all booted and verified (" + (r.VerifiedOk ? "drill passed, guests OK" : "NOT VERIFIED") + ")",-58} {r.AllVerifiedS,8:0.0}  {"< 60 s",-16} {Verdict(r.AllVerifiedS <= VerifiedTargetSeconds && r.VerifiedOk)}");
        Console.WriteLine($"  {$"baseline: first of {machines} plain qemu boots (local files)",-58} {r.BaselineFirstBootedS,8:0.0}");
        Console.WriteLine($"  {$"baseline: all {machines} plain qemu boots",-58} {r.BaselineAllBootedS,8:0.0}");
        Console.WriteLine($"  {"ratio (c) / baseline all booted",-58} {r.Ratio,8:0.00}  {"<= 1.5",-16} {Verdict(r.Ratio <= RatioTarget)}");
        Console.WriteLine($"  per machine booted (failover / baseline): {string.Join(", ", r.BootedS.OrderBy(b => b.Key).Select(b => $"{b.Key} {b.Value:0.0} / {r.BaselineBootedS.GetValueOrDefault(b.Key):0.0}"))}");
        // The drill step is still running when its own report is written, so the report gives it no duration: (d) - (c) is its cost.
        Console.WriteLine($"  steps: {string.Join(", ", r.StepSeconds.Select(s => s.Value is { } v ? $"{s.Key} {v:0.0} s" : $"{s.Key} ~{r.AllVerifiedS - r.AllBootedS:0.0} s ((d) - (c))"))}; cleanup {r.CleanupS:0.0} s; {r.Load}");
        Console.WriteLine("  baseline: the same LocalQemuTarget and qemu options, each local raw copy served by nbdkit file on a loopback port");
    }

    static async Task<JsonNode> UntilAsync(NodeApi api, ChildProcess node, string job, Func<string, bool> done, TimeSpan timeout, string step, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var v = await api.GetAsync($"api/failovers/{job}", step, ct);
            if (done(v["status"]!.GetValue<string>())) return v;
            node.EnsureRunning(step);
            if (DateTime.UtcNow > deadline)
                throw new BenchException(step, $"{job} is {v["status"]} after {timeout.TotalSeconds:0} s: {string.Join(" | ", v["history"]!.AsArray().Select(h => h!.ToString()))}");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>The tiny bootable guest (built from Debian packages by tests/images/build-tiny-guest.sh, cached); its path is the script's last line.</summary>
    static async Task<string> GuestImageAsync(string repo, CancellationToken ct)
    {
        const string step = "build the tiny guest";
        var r = await Tools.RunAsync("bash", [Path.Combine(repo, "tests", "images", "build-tiny-guest.sh")], TimeSpan.FromMinutes(5), step, ct);
        var path = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.StartsWith('/')) ?? "";
        return File.Exists(path) ? path : throw new BenchException(step, $"build-tiny-guest.sh printed no image path: {Tools.Tail(r.StdOut + r.StdErr, 400)}");
    }
}
