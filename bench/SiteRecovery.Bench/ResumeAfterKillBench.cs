using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// srbench resume: how long replication takes to resume after the node is killed (issue 17, target: under 10 s, p50/p99
/// over 20 kills). One srnode (all roles, SQLite) and one real sragent whose disk takes a steady fio randwrite through
/// its NBD export; the node is SIGKILLed and started again at once on the same data dir and ports, and the time is
/// taken from the restart (and from the kill) to the first answer of the node's API whose applied sequence of the disk
/// is past both the last one seen before the kill and the first one the restarted node reports (so the advance is
/// new work applied after the restart, not what the journal recovered).
/// <para>This is a single node: it is the owning node of every disk, and a restart is its only way back. It does not
/// measure a cluster's shard handover to another node; no sharding is built yet.</para>
/// </summary>
public static class ResumeAfterKillBench
{
    const string Usage = "usage: srbench resume [--kills 20] [--disk-mib 64] [--rate-kib 2048] [--repo DIR] [--results DIR] [--keep]";
    const double TargetSeconds = 10;
    const string Step = "resume after a node kill";

    sealed record Kill(int Index, long AppliedBeforeKill, long FirstReported, long Resumed, double NodeUpSeconds, double FromRestartSeconds, double FromKillSeconds);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        int kills = 20, diskMiB = 64, rateKiB = 2048;
        string? repo = null, results = null;
        var keep = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int(string name, int min, int max) => int.TryParse(Value(), out var v) && v >= min && v <= max ? v : throw new ArgumentException($"{name}: a number in {min}..{max}");
                switch (args[i])
                {
                    case "--kills": kills = Int("--kills", 1, 500); break;
                    case "--disk-mib": diskMiB = Int("--disk-mib", 8, 4096); break;
                    case "--rate-kib": rateKiB = Int("--rate-kib", 64, 1 << 20); break;
                    case "--repo": repo = Value(); break;
                    case "--results": results = Value(); break;
                    case "--keep": keep = true; break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench resume: {e.Message}\n{Usage}");
            return 2;
        }
        repo ??= StallBench.FindRepoRoot();
        results ??= Path.Combine(repo, "bench", "results");
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");
        var work = Path.Combine(Path.GetTempPath(), $"srbench-resume-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var started = DateTime.UtcNow;
        ChildProcess? node = null, agent = null;
        using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task<ProcessRun>? fio = null;
        try
        {
            Console.WriteLine($"replication resume after kill -9 of srnode: {kills} kills, one sragent, {diskMiB} MiB disk under fio randwrite 64k at {rateKiB} KiB/s; " +
                $"{Environment.ProcessorCount} cores, {StallBench.LoadAverage()}");
            int psPort = Net.FreePort(), mtPort = Net.FreePort(), apiPort = Net.FreePort(), nbd = Net.FreePort();
            var apiUrl = $"http://127.0.0.1:{apiPort}";
            var nodeData = Path.Combine(work, "node");
            ChildProcess StartNode() => Child.StartNode("srnode", [nodeDll, "run", "--id", "resume", "--data", nodeData,
                "--ps-listen", $"127.0.0.1:{psPort}", "--mt-listen", $"127.0.0.1:{mtPort}", "--api", apiUrl], work);
            node = StartNode();
            using var api = new NodeApi(apiUrl, nodeData);
            await StallBench.WaitUpAsync(node, api, Step, ct);

            var image = Path.Combine(work, "d1.img");
            await using (var f = new FileStream(image, FileMode.Create, FileAccess.Write)) f.SetLength((long)diskMiB << 20);
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            agent = Child.Start("sragent", "dotnet", [agentDll, "run", "--id", "vm1", "--disk", $"d1={image}", "--nbd", $"127.0.0.1:{nbd}",
                "--process-server", $"127.0.0.1:{psPort}", "--state-dir", Path.Combine(work, "agent"), "--json"], work,
                line => { if (line.Contains("\"ready\"", StringComparison.Ordinal)) ready.TrySetResult(); });
            await ready.Task.WaitAsync(TimeSpan.FromMinutes(3), ct);
            await WaitAsync(async () => (await AppliedAsync(api, ct)).State == "Protected", TimeSpan.FromMinutes(10), "initial replication of d1", agent, ct);

            fio = ExternalTool.RunAsync("fio", ["--name=steady", "--ioengine=nbd", $"--uri=nbd://127.0.0.1:{nbd}/d1", "--rw=randwrite", "--bs=64k", "--iodepth=4",
                $"--size={diskMiB}M", "--time_based", "--runtime=86400", $"--rate={rateKiB}k", "--randrepeat=0", "--output-format=terse"], TimeSpan.FromDays(1), stopLoad.Token);

            var runs = new List<Kill>();
            for (var k = 1; k <= kills; k++)
            {
                agent.EnsureRunning(Step);
                if (fio.IsCompleted) throw new BenchException(Step, "fio ended early: " + (fio.IsCompletedSuccessfully ? Tools.Tail(fio.Result.StdErr, 400) : fio.Exception?.GetBaseException().Message));
                // Replication is flowing: the applied sequence advances twice before the kill.
                var before = (await AppliedAsync(api, ct)).Applied;
                for (var advances = 0; advances < 2;)
                {
                    await Task.Delay(100, ct);
                    var now = (await AppliedAsync(api, ct)).Applied;
                    if (now > before) { advances++; before = now; }
                    node.EnsureRunning(Step);
                }
                var killAt = Stopwatch.GetTimestamp();
                await node.Kill9Async();
                await node.DisposeAsync();
                var restartAt = Stopwatch.GetTimestamp();
                node = StartNode();
                long? first = null;
                double? upSeconds = null;
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
                while (true)
                {
                    node.EnsureRunning(Step);
                    if (DateTime.UtcNow > deadline) throw new BenchException(Step, $"kill {k}: replication of d1 did not resume past #{Math.Max(before, first ?? 0)} within 5 min of the restart");
                    (long Applied, string? State)? seen = null;
                    try { seen = await AppliedAsync(api, ct); }
                    catch (Exception e) when (e is HttpRequestException or BenchException) { }
                    if (seen is { } s)
                    {
                        upSeconds ??= Stopwatch.GetElapsedTime(restartAt).TotalSeconds;
                        if (s.Applied >= 0 && first is null) first = s.Applied;
                        if (first is { } f0 && s.Applied > Math.Max(before, f0))
                        {
                            var done = Stopwatch.GetTimestamp();
                            runs.Add(new Kill(k, before, f0, s.Applied, upSeconds.Value,
                                Stopwatch.GetElapsedTime(restartAt, done).TotalSeconds, Stopwatch.GetElapsedTime(killAt, done).TotalSeconds));
                            break;
                        }
                    }
                    await Task.Delay(100, ct);
                }
                var r = runs[^1];
                Console.WriteLine($"  kill {k,2}: applied #{r.AppliedBeforeKill} before, restarted node first reported #{r.FirstReported}, resumed at #{r.Resumed}; " +
                    $"API up {r.NodeUpSeconds:0.00} s, resumed {r.FromRestartSeconds:0.00} s after the restart ({r.FromKillSeconds:0.00} s after the kill); {StallBench.LoadAverage()}");
            }

            double Q(IEnumerable<double> v, double q) { var s = v.Order().ToList(); return s[Math.Clamp((int)Math.Ceiling(q * s.Count) - 1, 0, s.Count - 1)]; }
            var fromKill = runs.Select(r => r.FromKillSeconds).ToList();
            var fromRestart = runs.Select(r => r.FromRestartSeconds).ToList();
            var nodeUp = runs.Select(r => r.NodeUpSeconds).ToList();
            var report = new Report();
            var scale = kills == 20 ? "20 kills" : $"{kills} kills (issue: 20)";
            report.Add(new Figure("17r", "resume after kill, p50 (from the kill)", Q(fromKill, 0.5), "s", $"< {TargetSeconds:0} s", Q(fromKill, 0.5) < TargetSeconds, scale));
            report.Add(new Figure("17r", "resume after kill, p99 (from the kill)", Q(fromKill, 0.99), "s", $"< {TargetSeconds:0} s", Q(fromKill, 0.99) < TargetSeconds, scale));
            report.Add(new Figure("17r", "resume after kill, max (from the kill)", fromKill.Max(), "s", "-", null, scale));
            report.Add(new Figure("17r", "resume after restart, p50", Q(fromRestart, 0.5), "s", "-", null, scale));
            report.Add(new Figure("17r", "resume after restart, p99", Q(fromRestart, 0.99), "s", "-", null, scale));
            report.Add(new Figure("17r", "resume after restart, max", fromRestart.Max(), "s", "-", null, scale));
            report.Add(new Figure("17r", "node API answering after restart, p50", Q(nodeUp, 0.5), "s", "-", null, scale));
            Console.WriteLine();
            Console.Write(report.Table());
            Console.WriteLine("single node: the killed node is the owner and comes back by restart; this is not a cluster's shard handover (no sharding is built yet)");
            Console.WriteLine($"p99 is the nearest rank ({(int)Math.Ceiling(0.99 * runs.Count)} of {runs.Count}); times to within the 100 ms poll; {StallBench.LoadAverage()}");
            foreach (var r in runs) report.Details[$"kill-{r.Index:00}"] = System.Text.Json.JsonSerializer.SerializeToNode(r);
            report.Details["diskMiB"] = diskMiB;
            report.Details["rateKiB"] = rateKiB;
            report.Note("single node: the owning node restarts on its data dir; a cluster's shard handover is not measured (no sharding is built yet)");
            report.Note("resumed = the first /api/status of the restarted node whose applied sequence of d1 is past both the last one seen before the kill and the first one it reported");
            report.Machine["cores"] = Environment.ProcessorCount;
            report.Machine["load"] = StallBench.LoadAverage();
            Directory.CreateDirectory(results);
            await File.WriteAllTextAsync(Path.Combine(results, "resume-latest.json"), report.ToJson("resume", started, DateTime.UtcNow - started).ToJsonString(Report.Indented), ct);
            return 0;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"\nBENCH FAILED in step '{e.Step}': {e.Message}");
            keep = true;
            return 1;
        }
        finally
        {
            await stopLoad.CancelAsync();
            if (fio is not null)
                try { await fio; }
                catch (Exception e) when (e is OperationCanceledException or TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
            if (agent is not null) await agent.DisposeAsync();
            if (node is not null) await node.DisposeAsync();
            if (!keep) { try { Directory.Delete(work, true); } catch (IOException) { } }
            else Console.WriteLine($"work directory kept: {work}");
        }
    }

    /// <summary>d1's applied sequence and state as the node reports them; -1 while the node does not list d1 yet.</summary>
    static async Task<(long Applied, string? State)> AppliedAsync(NodeApi api, CancellationToken ct)
    {
        var status = await api.GetAsync("api/status", Step, ct);
        var d1 = status["disks"]!.AsArray().FirstOrDefault(d => d!["disk"]!.GetValue<string>() == "d1");
        return d1 is null ? (-1, null) : (d1["appliedThrough"]!.GetValue<long>(), d1["state"]?.GetValue<string>());
    }

    static async Task WaitAsync(Func<Task<bool>> done, TimeSpan timeout, string what, ChildProcess agent, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await done())
        {
            agent.EnsureRunning(what);
            if (DateTime.UtcNow > deadline) throw new BenchException(Step, $"{what}: not done after {timeout.TotalMinutes:0} min");
            await Task.Delay(500, ct);
        }
    }
}
