using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// srbench memory: the node's memory per idle protected disk (issue 17, target: 1,000 idle protected disks in under
/// 500 MB of node memory). One srnode (all roles, embedded SQLite, fresh data dir); machines of tiny sparse disks, each
/// machine discovered and enabled through the node's HTTP API as an operator would, then served by a real sragent;
/// once every disk is Protected and nothing is written, the node's RSS is read from /proc at N = 0, 100, 1000 disks.
/// <para>
/// What a protected disk is in this design: the control plane's enable (POST /api/machines, /api/machines/ID/enable)
/// writes a ProtectedMachine entity, a replica entry on the master target entity (31 usable slots on the node's one
/// master target, so it refuses the 26th-and-later disk of a site) and a disk assignment on the process server entity;
/// it creates no per-disk actor. The per-disk entities come with the agent's connection: the process server's spool
/// and session for the disk, the master target's disk (replica file, retention journal, segment writer, durable
/// bookmarks), and the ProtectedDisk actor (state, recovery points) that the master target's RegisterDisk creates.
/// So the figure is measured with agents connected; the node is also read after the agents stop and after a restart
/// with none connected, and after the ProtectedDisk actors passivate.
/// </para>
/// </summary>
public static class IdleDiskMemoryBench
{
    const string Usage = "usage: srbench memory [--disks 1000] [--disks-per-agent 25] [--disk-mib 1] [--wave 100] [--settle-seconds 30] [--no-passivation] [--gcdump PATH-OF-dotnet-gcdump] [--repo DIR] [--results DIR] [--keep]";
    const double TargetMB = 500;
    const int TargetDisks = 1000;
    const double MB = 1e6;
    const string Step = "idle disk memory";

    /// <summary>One reading of the node: /proc/PID/status and the node's own /api/metrics (GC heap).</summary>
    sealed record Sample(string Phase, int Disks, long RssBytes, long AnonBytes, long FileBytes, long GcHeapBytes, int Threads, int OpenFiles);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        int disks = TargetDisks, perAgent = 25, diskMiB = 1, settleSeconds = 30, wave = 100;
        var passivation = true;
        string? repo = null, results = null, gcdump = null;
        var keep = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int(string name, int min, int max) => int.TryParse(Value(), out var v) && v >= min && v <= max ? v : throw new ArgumentException($"{name}: a number in {min}..{max}");
                switch (args[i])
                {
                    case "--gcdump": gcdump = Value(); break;
                    case "--disks": disks = Int("--disks", 1, 5000); break;
                    // At most 31 disks per machine (CapacityLimits.MaxDisks): the machine's validation refuses more.
                    case "--disks-per-agent": perAgent = Int("--disks-per-agent", 1, 31); break;
                    case "--disk-mib": diskMiB = Int("--disk-mib", 1, 1024); break;
                    case "--wave": wave = Int("--wave", 1, 5000); break;
                    case "--settle-seconds": settleSeconds = Int("--settle-seconds", 0, 600); break;
                    case "--no-passivation": passivation = false; break;
                    case "--repo": repo = Value(); break;
                    case "--results": results = Value(); break;
                    case "--keep": keep = true; break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench memory: {e.Message}\n{Usage}");
            return 2;
        }
        repo ??= StallBench.FindRepoRoot();
        results ??= Path.Combine(repo, "bench", "results");
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");
        var steps = new[] { 100, TargetDisks }.Where(n => n < disks).Append(disks).ToList();
        var work = Path.Combine(Path.GetTempPath(), $"srbench-memory-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var started = DateTime.UtcNow;
        var samples = new List<Sample>();
        var agents = new List<ChildProcess>();
        ChildProcess? node = null;
        var enableResults = new JsonArray();
        var starting = new List<Task>();
        var report0 = new Report();
        try
        {
            Console.WriteLine($"memory per idle protected disk: one srnode (all roles, SQLite), machines of {perAgent} disks of {diskMiB} MiB random data, one sragent each; " +
                $"RSS at 0, {string.Join(", ", steps)} disks after {settleSeconds} s idle; {Environment.ProcessorCount} cores, {StallBench.LoadAverage()}");
            int psPort = Net.FreePort(), mtPort = Net.FreePort(), apiPort = Net.FreePort();
            var apiUrl = $"http://127.0.0.1:{apiPort}";
            var nodeData = Path.Combine(work, "node");
            ChildProcess StartNode() => Child.StartNode("srnode", [nodeDll, "run", "--id", "mem", "--data", nodeData,
                "--ps-listen", $"127.0.0.1:{psPort}", "--mt-listen", $"127.0.0.1:{mtPort}", "--api", apiUrl], work);
            node = StartNode();
            using var api = new NodeApi(apiUrl, nodeData);
            await StallBench.WaitUpAsync(node, api, Step, ct);

            async Task<Sample> ReadAsync(string phase, int n)
            {
                Console.Write($"  {phase}: {n} disks, idle {settleSeconds} s ... ");
                await Task.Delay(TimeSpan.FromSeconds(settleSeconds), ct);
                node.EnsureRunning(Step);
                var gc = (await api.GetAsync("api/metrics", Step, ct))["gcHeapBytes"]!.GetValue<long>();
                var s = new Sample(phase, n, Probes.ProcStatus(node.Pid, "VmRSS"), Probes.ProcStatus(node.Pid, "RssAnon"), Probes.ProcStatus(node.Pid, "RssFile"), gc,
                    Threads(node.Pid), OpenFiles(node.Pid));
                samples.Add(s);
                Console.WriteLine($"RSS {s.RssBytes / MB:0.0} MB (anon {s.AnonBytes / MB:0.0}, file {s.FileBytes / MB:0.0}), GC heap {s.GcHeapBytes / MB:0.0} MB, {s.Threads} threads, {s.OpenFiles} open files");
                return s;
            }

            await ReadAsync("connected", 0);
            int made = 0, machines = 0;
            foreach (var target in steps)
            {
                // In waves of about --wave disks, each Protected before the next starts: a thousand disks attaching at once
                // on a loaded 2-core machine timed out SQLite persists of DiskRegistered (the journal's default timeout),
                // which is a burst this figure is not about.
                while (made < target)
                {
                    var batch = new List<Task>();
                    var waveEnd = Math.Min(target, made + wave);
                    while (made < waveEnd)
                    {
                        var count = Math.Min(perAgent, waveEnd - made);
                        var machine = $"m{machines++:000}";
                        var ids = Enumerable.Range(made, count).Select(d => $"{machine}-d{d - made:00}").ToList();
                        made += count;
                        enableResults.Add(await ProtectAsync(api, machine, ids, (long)diskMiB << 20, ct));
                        batch.Add(StartAgentAsync(machine, ids));
                        starting.Add(batch[^1]);
                    }
                    await Task.WhenAll(batch);
                    await WaitProtectedAsync(api, made, ct);
                }
                await ReadAsync("connected", target);
            }

            async Task StartAgentAsync(string machine, List<string> ids)
            {
                var dir = Path.Combine(work, machine);
                Directory.CreateDirectory(dir);
                var diskArgs = new List<string>();
                foreach (var id in ids)
                {
                    var path = Path.Combine(dir, id + ".img");
                    // Random data, not a sparse file: the initial copy then goes through each disk's spool and journal as real
                    // churn does, so their buffers are touched (resident) as on a disk that has been written.
                    var data = new byte[(long)diskMiB << 20];
                    Random.Shared.NextBytes(data);
                    await File.WriteAllBytesAsync(path, data, ct);
                    diskArgs.AddRange(["--disk", $"{id}={path}"]);
                }
                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                ChildProcess agent;
                lock (agents)
                {
                    agent = Child.Start("sragent-" + machine, "dotnet", [agentDll, "run", "--id", machine, .. diskArgs, "--nbd", $"127.0.0.1:{Net.FreePort()}",
                        "--process-server", $"127.0.0.1:{psPort}", "--state-dir", Path.Combine(dir, "state"), "--buffer-mb", "1", "--json"], dir,
                        line => { if (line.Contains("\"ready\"", StringComparison.Ordinal)) ready.TrySetResult(); });
                    agents.Add(agent);
                }
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
                while (!ready.Task.IsCompleted)
                {
                    agent.EnsureRunning("start sragent " + machine);
                    if (DateTime.UtcNow > deadline) throw new BenchException("start sragent " + machine, "no ready line after 5 min; log " + agent.LogPath);
                    await Task.WhenAny(ready.Task, Task.Delay(500, ct));
                }
            }

            var final = samples[^1];
            if (gcdump is not null)
            {
                // Where the managed heap goes, by type (dotnet-gcdump forces a full collection, so the readings after it follow one).
                var file = Path.Combine(work, "node.gcdump");
                await Tools.RunAsync(gcdump, ["collect", "-p", node.Pid.ToString(CultureInfo.InvariantCulture), "-o", file], TimeSpan.FromMinutes(5), "gcdump collect", ct);
                var top = await Tools.RunAsync(gcdump, ["report", file], TimeSpan.FromMinutes(5), "gcdump report", ct);
                Console.WriteLine("  managed heap by type after a full GC (dotnet-gcdump report, largest first):");
                foreach (var line in top.StdOut.Split('\n').Take(24)) Console.WriteLine("    " + line);
                report0.Details["gcdump"] = string.Join('\n', top.StdOut.Split('\n').Take(40));
            }
            if (passivation)
            {
                // The ProtectedDisk actors passivate after EntitySettings.Default.PassivateAfter idle (2 min); the wait for
                // Protected above asked each of them, so the clock starts there.
                var wait = TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(20) - TimeSpan.FromSeconds(settleSeconds);
                Console.WriteLine($"  waiting {wait.TotalSeconds:0} s more for the disk actors to passivate ...");
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
                await ReadAsync("passivated", made);
            }
            Console.WriteLine($"  stopping {agents.Count} agents ...");
            await Task.WhenAll(agents.Select(a => a.StopAsync(TimeSpan.FromSeconds(30))));
            await ReadAsync("agents stopped", made);
            await node.StopAsync(TimeSpan.FromSeconds(60));
            await node.DisposeAsync();
            node = StartNode();
            var up = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (true)
            {
                node.EnsureRunning(Step);
                // api/health, not api/status: status asks every disk's actor and so would start them all.
                try { await api.GetAsync("api/health", Step, ct); break; }
                catch (Exception e) when (e is HttpRequestException or BenchException && DateTime.UtcNow < up) { await Task.Delay(200, ct); }
            }
            await ReadAsync("restarted, no agent", made);

            var zero = samples[0];
            var perDisk = (final.RssBytes - zero.RssBytes) / (double)final.Disks;
            var perDiskGc = (final.GcHeapBytes - zero.GcHeapBytes) / (double)final.Disks;
            var at1000 = final.Disks == TargetDisks ? final.RssBytes : zero.RssBytes + perDisk * TargetDisks;
            var scale = final.Disks == TargetDisks ? "measured at 1000 disks" : $"scaled from {final.Disks} disks (RSS(0) + 1000 x per-disk)";
            var report = report0;
            report.Add(new Figure("17m", "node MB per idle protected disk (RSS)", perDisk / MB, "MB", "-", null, $"(RSS({final.Disks}) - RSS(0)) / {final.Disks}"));
            report.Add(new Figure("17m", "node GC heap MB per idle protected disk", perDiskGc / MB, "MB", "-", null, "from /api/metrics gcHeapBytes"));
            report.Add(new Figure("17m", "node RSS with 1000 idle protected disks", at1000 / MB, "MB", $"< {TargetMB:0} MB", at1000 < TargetMB * MB, scale));
            Console.WriteLine();
            Console.WriteLine($"{"phase",-20} {"disks",6} {"RSS MB",8} {"anon MB",8} {"file MB",8} {"GC heap MB",10} {"threads",8} {"files",6}");
            foreach (var s in samples)
                Console.WriteLine($"{s.Phase,-20} {s.Disks,6} {s.RssBytes / MB,8:0.0} {s.AnonBytes / MB,8:0.0} {s.FileBytes / MB,8:0.0} {s.GcHeapBytes / MB,10:0.0} {s.Threads,8} {s.OpenFiles,6}");
            Console.WriteLine();
            Console.Write(report.Table());
            var enabled = enableResults.Count(r => r!["enabled"]!.GetValue<bool>());
            var refused = enableResults.Where(r => !r!["enabled"]!.GetValue<bool>()).Select(r => r!["message"]!.GetValue<string>()).FirstOrDefault();
            Console.WriteLine($"control plane: {enableResults.Count} machines discovered, {enabled} enabled through /api/machines/ID/enable" +
                (refused is null ? "" : $"; the others refused, first refusal: {refused}"));
            Console.WriteLine($"MB = 10^6 bytes; {StallBench.LoadAverage()}");

            foreach (var s in samples)
                report.Details[$"{s.Phase}-{s.Disks}"] = JsonSerializer.SerializeToNode(s);
            report.Details["enable"] = enableResults.DeepClone();
            report.Details["disksPerAgent"] = perAgent;
            report.Details["diskMiB"] = diskMiB;
            report.Details["settleSeconds"] = settleSeconds;
            report.Note("an idle protected disk here: an agent connected with the disk fully replicated and nothing written; node entities per disk: " +
                "process-server spool/session, master-target disk (replica file, retention journal, segment writer), ProtectedDisk actor (RegisterDisk on attach)");
            report.Note($"control plane: {enabled} of {enableResults.Count} machines enabled; the node's one master target has 31 usable slots");
            report.Machine["cores"] = Environment.ProcessorCount;
            report.Machine["load"] = StallBench.LoadAverage();
            Directory.CreateDirectory(results);
            await File.WriteAllTextAsync(Path.Combine(results, "memory-latest.json"), report.ToJson("memory", started, DateTime.UtcNow - started).ToJsonString(Report.Indented), ct);
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
            // An agent still being started when a step failed is in the list once its start returns.
            try { await Task.WhenAll(starting); } catch (Exception e) when (e is BenchException or OperationCanceledException or IOException) { }
            foreach (var a in agents) await a.DisposeAsync();
            if (node is not null) await node.DisposeAsync();
            if (!keep) { try { Directory.Delete(work, true); } catch (IOException) { } }
            else Console.WriteLine($"work directory kept: {work}");
        }
    }

    /// <summary>
    /// Discovers the machine and enables its protection through the API, as an operator does before the agent runs.
    /// A refusal (the master target's slots) is recorded, not fatal: the agent's disks are protected by the data path.
    /// </summary>
    static async Task<JsonObject> ProtectAsync(NodeApi api, string machine, List<string> diskIds, long sizeBytes, CancellationToken ct)
    {
        await api.PostAsync("api/machines", new
        {
            machineId = machine,
            properties = new
            {
                name = machine, os = "Linux", disks = diskIds.Select(d => new { diskId = d, sizeBytes }).ToArray(), bootType = "Bios",
                clustered = false, hasBitLockerVolumes = false, failoverName = machine + "-dr", failoverVmSize = "Standard_D2s_v3", failoverNetwork = "vnet1",
            },
        }, "discover machine " + machine, ct);
        try
        {
            await api.PostAsync($"api/machines/{machine}/enable", new { churnMBps = 0.1 }, "enable " + machine, ct);
            return new JsonObject { ["machine"] = machine, ["disks"] = diskIds.Count, ["enabled"] = true };
        }
        catch (BenchException e) when (e.Message.Contains("returned 409", StringComparison.Ordinal))
        {
            return new JsonObject { ["machine"] = machine, ["disks"] = diskIds.Count, ["enabled"] = false, ["message"] = e.Message };
        }
    }

    /// <summary>Waits until the node lists <paramref name="count"/> disks, every one Protected and its spool acknowledged by the master target.</summary>
    static async Task WaitProtectedAsync(NodeApi api, int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(30);
        var last = "";
        while (true)
        {
            JsonNode status;
            // /api/status asks every disk's actor in turn; one that recovers slowly under load fails the whole answer (an
            // ask timeout, HTTP 500): asked again, not fatal.
            try { status = await api.GetAsync("api/status", Step, ct); }
            catch (BenchException e) when (DateTime.UtcNow < deadline)
            {
                Console.WriteLine($"    api/status failed, asking again: {Tools.Tail(e.Message, 200)}");
                await Task.Delay(2000, ct);
                continue;
            }
            var disks = status["disks"]!.AsArray();
            var protectedCount = disks.Count(d => d!["state"]?.GetValue<string>() == "Protected");
            var cache = status["cache"]!.AsArray();
            var drained = cache.Count(c => c!["spooled"]!.GetValue<long>() == c!["targetAcked"]!.GetValue<long>());
            if (protectedCount == count && disks.Count == count && drained == cache.Count) return;
            var now = $"{disks.Count} disks attached, {protectedCount} Protected, {drained}/{cache.Count} spools drained";
            if (now != last) { Console.WriteLine($"    {now}"); last = now; }
            if (DateTime.UtcNow > deadline) throw new BenchException(Step, $"not all {count} disks Protected after 30 min: {now}");
            await Task.Delay(2000, ct);
        }
    }

    /// <summary>The Threads count of /proc/PID/status (a count, not kB as the fields <see cref="Probes.ProcStatus"/> reads).</summary>
    static int Threads(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Threads:", StringComparison.Ordinal));
        return line is null ? -1 : int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    static int OpenFiles(int pid)
    {
        try { return Directory.GetFiles($"/proc/{pid}/fd").Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return -1; }
    }
}
