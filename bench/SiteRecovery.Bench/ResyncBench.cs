using System.Text.Json;
using System.Text.RegularExpressions;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// srbench resync: what an agent crash costs. A disk (default 4 GiB, filled with data and fully replicated) takes random
/// 64 KiB writes in a hot region of 1 % of it; the agent is killed (SIGKILL) mid-workload, the page cache is dropped, and
/// the restarted agent's resync is timed and its bytes read counted — first with its write-ahead activity log (only the
/// logged extents are compared), then the same crash with the log removed, which is the whole-disk compare every crash
/// cost before the log existed. Target: bytes read within 2 × the hot set. Seconds are information.
/// </summary>
public static class ResyncBench
{
    const string Usage = "usage: srbench resync [--disk-gib 4] [--hot-percent 1] [--repo DIR] [--keep] [--results DIR]";
    const long MiB = 1 << 20;

    sealed record Run(string Mode, string Reason, long ScannedMiB, long SentMiB, double Seconds, bool CacheDropped);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var diskGiB = 4;
        var hotPercent = 1.0;
        string? repo = null, results = null;
        var keep = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--disk-gib": diskGiB = int.TryParse(Value(), out var g) && g is >= 1 and <= 64 ? g : throw new ArgumentException("--disk-gib: a size in 1..64"); break;
                    case "--hot-percent": hotPercent = double.TryParse(Value(), System.Globalization.CultureInfo.InvariantCulture, out var h) && h is > 0 and <= 50 ? h : throw new ArgumentException("--hot-percent: a percentage in (0, 50]"); break;
                    case "--repo": repo = Value(); break;
                    case "--results": results = Value(); break;
                    case "--keep": keep = true; break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench resync: {e.Message}\n{Usage}");
            return 2;
        }
        repo ??= StallBench.FindRepoRoot();
        results ??= Path.Combine(repo, "bench", "results");
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");
        var diskBytes = (long)diskGiB << 30;
        var hotMiB = Math.Max(4, (long)(diskBytes * hotPercent / 100 / MiB));
        var work = Path.Combine(Path.GetTempPath(), $"srbench-resync-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        const string step = "resync after an agent crash";
        var children = new List<ChildProcess>();
        try
        {
            Console.WriteLine($"post-crash resync: {diskGiB} GiB disk of data, fio randwrite 64k in a {hotMiB} MiB hot region ({hotPercent}%), SIGKILL of sragent mid-workload, page cache dropped before each resync; {Environment.ProcessorCount} cores");
            var image = Path.Combine(work, "disk.img");
            await FillAsync(image, diskBytes, ct);
            int psPort = Net.FreePort(), mtPort = Net.FreePort(), apiPort = Net.FreePort(), nbd = Net.FreePort();
            var apiUrl = $"http://127.0.0.1:{apiPort}";
            var node = Child.StartNode("srnode", [nodeDll, "run", "--id", "resync", "--data", Path.Combine(work, "node"),
                "--ps-listen", $"127.0.0.1:{psPort}", "--mt-listen", $"127.0.0.1:{mtPort}", "--api", apiUrl], work);
            children.Add(node);
            using var api = new NodeApi(apiUrl, Path.Combine(work, "node"));
            await StallBench.WaitUpAsync(node, api, step, ct);
            var stateDir = Path.Combine(work, "agent");
            var uri = $"nbd://127.0.0.1:{nbd}/d1";

            var lines = new System.Collections.Concurrent.ConcurrentQueue<(DateTime At, string Line)>();
            async Task<ChildProcess> StartAgentAsync()
            {
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var agent = Child.Start("sragent", "dotnet", [agentDll, "run", "--id", "vm1", "--disk", $"d1={image}", "--nbd", $"127.0.0.1:{nbd}",
                    "--process-server", $"127.0.0.1:{psPort}", "--state-dir", stateDir, "--json"], work,
                    line => { lines.Enqueue((DateTime.UtcNow, line)); if (line.Contains("\"ready\"", StringComparison.Ordinal)) ready.TrySetResult(); });
                children.Add(agent);
                await ready.Task.WaitAsync(TimeSpan.FromMinutes(2), ct);
                return agent;
            }
            async Task<string> WaitLineAsync(Func<string, bool> match, DateTime after, TimeSpan timeout)
            {
                var deadline = DateTime.UtcNow + timeout;
                while (true)
                {
                    var hit = lines.FirstOrDefault(l => l.At >= after && match(l.Line));
                    if (hit.Line is not null) return hit.Line;
                    if (DateTime.UtcNow > deadline) throw new BenchException(step, "timed out waiting for the agent's resync line; agent log in " + work);
                    await Task.Delay(50, ct);
                }
            }

            var agentChild = await StartAgentAsync();
            Console.WriteLine($"  initial replication of {diskGiB} GiB ...");
            var started = DateTime.UtcNow;
            await WaitLineAsync(l => l.Contains("resync scanned", StringComparison.Ordinal), started.AddMinutes(-5), TimeSpan.FromMinutes(20));
            await WaitCaughtUpAsync(api, step, ct);
            Console.WriteLine($"  ... done in {(DateTime.UtcNow - started).TotalSeconds:0} s");

            var runs = new List<Run>();
            foreach (var withLog in new[] { true, false })
            {
                // The hot workload, killed mid-way: the agent acknowledges at disk speed and replicates behind.
                using var hot = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var fio = ExternalTool.RunAsync("fio", [
                    "--name=hot", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=64k", "--iodepth=8", $"--size={hotMiB}M",
                    "--time_based", "--runtime=60", "--randrepeat=0", "--output-format=terse"], TimeSpan.FromMinutes(2), hot.Token);
                await Task.Delay(TimeSpan.FromSeconds(4), ct);
                await agentChild.Kill9Async();
                // fio ends with an error once its export is gone; one that hangs on the dead connection is stopped after 30 s.
                hot.CancelAfter(TimeSpan.FromSeconds(30));
                try { await fio; }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                if (!withLog) File.Delete(Path.Combine(stateDir, "d1.activity")); // the crash as it was before the log existed
                var dropped = DropCaches();
                var restart = DateTime.UtcNow;
                agentChild = await StartAgentAsync();
                var begun = await WaitLineAsync(l => l.Contains("resync started", StringComparison.Ordinal), restart, TimeSpan.FromMinutes(1));
                var done = await WaitLineAsync(l => l.Contains("resync scanned", StringComparison.Ordinal), restart, TimeSpan.FromMinutes(20));
                var seconds = (lines.First(l => l.Line == done).At - restart).TotalSeconds;
                var m = Regex.Match(done, @"resync scanned (\d+) MiB, sent (\d+) MiB");
                var reason = Regex.Match(begun, @"resync started \((\w+)\)").Groups[1].Value;
                runs.Add(new Run(withLog ? "activity log" : "whole disk (no log)", reason, long.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value), seconds, dropped));
                await WaitCaughtUpAsync(api, step, ct);
            }

            Console.WriteLine($"{"resync",-22} {"reason",-30} {"read MiB",9} {"sent MiB",9} {"seconds",8}  target");
            foreach (var r in runs)
                Console.WriteLine($"{r.Mode,-22} {r.Reason,-30} {r.ScannedMiB,9} {r.SentMiB,9} {r.Seconds,8:0.0}  " +
                    (r.Mode == "activity log" ? (r.ScannedMiB <= 2 * hotMiB ? $"met (<= 2 x {hotMiB} MiB hot set)" : $"MISSED (> 2 x {hotMiB} MiB hot set)") : "reference"));
            Console.WriteLine($"read ratio log / whole disk: {(double)runs[0].ScannedMiB / Math.Max(1, runs[1].ScannedMiB):0.000}; page cache dropped: {(runs.All(r => r.CacheDropped) ? "yes" : "NO (not permitted here: figures read from cache)")}; {StallBench.LoadAverage()}");
            if (diskGiB != 4 || hotPercent != 1) Console.WriteLine($"scaling: run at {diskGiB} GiB / {hotPercent}% against the issue's 4 GiB / 1%: the log's read follows the hot set, the whole-disk read the disk size");
            Directory.CreateDirectory(results);
            var json = JsonSerializer.Serialize(new { time = DateTime.UtcNow, diskGiB, hotPercent, hotMiB, runs, load = StallBench.LoadAverage() }, new JsonSerializerOptions { WriteIndented = true });
            await File.WriteAllTextAsync(Path.Combine(results, "resync-latest.json"), json, ct);
            return runs[0].ScannedMiB <= 2 * hotMiB ? 0 : 3;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"BENCH FAILED in step '{e.Step}': {e.Message}");
            keep = true;
            return 1;
        }
        finally
        {
            foreach (var c in Enumerable.Reverse(children)) await c.DisposeAsync();
            if (!keep) { try { Directory.Delete(work, true); } catch (IOException) { } }
            else Console.WriteLine($"work directory kept: {work}");
        }
    }

    /// <summary>Fills the disk with incompressible data (a 1 MiB random block, varied per MiB) and syncs it.</summary>
    static async Task FillAsync(string path, long bytes, CancellationToken ct)
    {
        var block = new byte[MiB];
        new Random(7).NextBytes(block);
        await using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (long done = 0; done < bytes; done += MiB)
        {
            BitConverter.TryWriteBytes(block, done);
            await f.WriteAsync(block, ct);
        }
        f.Flush(flushToDisk: true);
    }

    /// <summary>Waits until the master target has applied everything the process server spooled (and a bookmark goes through).</summary>
    static async Task WaitCaughtUpAsync(NodeApi api, string step, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            try { await api.PostAsync("api/bookmarks", new { disks = new[] { "d1" }, timeoutSeconds = 60 }, step, ct); return; }
            catch (BenchException) when (DateTime.UtcNow < deadline) { await Task.Delay(500, ct); }
        }
    }

    /// <summary>Drops the page cache (root, and a kernel that lets this container do it); false when not permitted.</summary>
    static bool DropCaches()
    {
        try
        {
            Tools.Run("sync", [], TimeSpan.FromMinutes(5));
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
