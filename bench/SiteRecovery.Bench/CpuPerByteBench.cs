using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// CPU per byte (issue 14): each figure against a reference measured in the same run, in interleaved A/B pairs
/// (ABBA order, so a drift of the machine weighs on both sides alike), median and spread printed.
/// <list type="bullet">
/// <item>2a/cpu: srnode's CPU-seconds per GiB replicated (figure 2a's job, fio start → bookmark durable), user and system
/// apart, against a floor: three dd's at once making the same three durable copies (spool, journal, replica) of the same
/// bytes, fsync'd; their CPU comes from bash's <c>times</c>.</item>
/// <item>2a/ceil: figure 2a's rate against the rate of those three concurrent durable copies on this disk.</item>
/// <item>4/cpu: sragent's CPU-seconds per GiB for figure 4's fio job (its replication of those writes included, up to the
/// bookmark) against nbdkit's file plugin for the same job; srnode pinned to the other core; the writes that overflowed
/// the agent's buffer into its dirty map printed beside it.</item>
/// </list>
/// </summary>
public static partial class CpuPerByteBench
{
    const double MB = 1e6;
    const double GiB = 1 << 30;

    public const string Usage = """
        usage: srbench cpu [--pairs N] [--figures all|2a|4] [--perf-node DIR] [--quick] [--work-dir DIR] [--keep]
          --pairs N         interleaved A/B pairs per figure (default 5, at least 2)
          --figures F       only figure 2a's pairs (the node's), only figure 4's (the agent's), or both (default)
          --perf-node DIR   before the pairs, one extra untimed figure-2a run with `perf record -g` on srnode;
                            writes DIR/node-2a.perf.data and DIR/node-2a.txt (symbols of JIT code from /tmp/perf-PID.map)
          other options as for the full bench (--quick: 256 MiB, 5 s runs)
        """;

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var pairs = 5;
        var figures = "all";
        string? perfDir = null;
        var rest = new List<string>();
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--pairs":
                        var v = Value();
                        if (!int.TryParse(v, CultureInfo.InvariantCulture, out pairs) || pairs < 2) throw new ArgumentException($"--pairs '{v}' is not a whole number of at least 2");
                        break;
                    case "--perf-node": perfDir = Path.GetFullPath(Value()); break;
                    case "--figures":
                        figures = Value();
                        if (figures is not ("all" or "2a" or "4")) throw new ArgumentException($"--figures '{figures}' is not all, 2a or 4");
                        break;
                    default: rest.Add(args[i]); break;
                }
            }
        }
        catch (ArgumentException e) { Console.Error.WriteLine($"srbench cpu: {e.Message}"); Console.Error.WriteLine(Usage); return 2; }
        BenchOptions options;
        try { options = BenchOptions.Parse([.. rest]); }
        catch (ArgumentException e) { Console.Error.WriteLine($"srbench cpu: {e.Message}"); Console.Error.WriteLine(Usage); return 2; }
        if (options.Help) { Console.WriteLine(Usage); return 0; }
        // The runtime writes /tmp/perf-PID.map only when told at start; set here, inherited by srnode.
        // W^X double-maps JIT code from a deleted memfd, where perf cannot match the map: off for a profiled run only.
        if (perfDir is not null)
        {
            Environment.SetEnvironmentVariable("DOTNET_PerfMapEnabled", "1");
            Environment.SetEnvironmentVariable("DOTNET_EnableWriteXorExecute", "0");
        }

        if (!options.Quick && Needs(Profile.Full, pairs) is var need && FreeBytes(options) is var free && free < need)
        {
            Console.WriteLine($"cpu bench: full sizes need about {need >> 30} GiB free in the work folder, {free >> 30} GiB are: scaled down to the quick sizes " +
                              $"({Profile.Quick.ThroughputMiB} MiB per run, {Profile.Quick.NbdSeconds} s NBD runs)");
            options = options with { Quick = true };
        }
        var bench = new Bench(options);
        var ok = false;
        try
        {
            var run = new Run(bench, pairs, ct);
            var repo = await bench.OpenSiteAsync(ct);
            if (perfDir is not null) await run.ProfileNodeAsync(perfDir);
            if (figures != "4") await run.FigureTwoPairsAsync();
            if (figures != "2a") await run.FigureFourPairsAsync();
            run.Print(repo, options);
            ok = true;
            return 0;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"BENCH FAILED in step '{e.Step}': {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.Error.WriteLine("BENCH CANCELLED (Ctrl-C)");
            return 130;
        }
        finally
        {
            await bench.StopAllAsync();
            if (ok && !options.Keep) Bench.TryDelete(bench.WorkDir);
            else Console.WriteLine($"data and logs kept in {bench.WorkDir}");
        }
    }

    /// <summary>
    /// Disk the run needs: the agent's disk and the replica, the retained journal of every figure-2a run (warm-up and
    /// profile included), the floor's source and three copies, nbdkit's file; with a quarter more for the spool and slack.
    /// </summary>
    static long Needs(Profile p, int pairs)
    {
        long disk = (long)p.DiskMiB << 20, run = (long)p.ThroughputMiB << 20;
        return (3 * disk + (pairs + 2) * run + 4 * run) * 5 / 4;
    }

    static long FreeBytes(BenchOptions o)
    {
        var dir = Path.GetFullPath(o.WorkParent ?? Path.GetTempPath());
        try { return new DriveInfo(dir).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException) { return long.MaxValue; }
    }

    /// <summary>Median and spread of one quantity over the pairs.</summary>
    public sealed record Spread(double Median, double Min, double Max)
    {
        public static Spread Of(IEnumerable<double> values)
        {
            var v = values.Order().ToArray();
            if (v.Length == 0) return new(double.NaN, double.NaN, double.NaN);   // a figure not run (--figures)
            var median = v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
            return new(median, v[0], v[^1]);
        }

        public string Text(string format) => double.IsFinite(Median) ? $"{Median.ToString(format, CultureInfo.InvariantCulture)} ({Min.ToString(format, CultureInfo.InvariantCulture)}–{Max.ToString(format, CultureInfo.InvariantCulture)})" : "n/a (reference 0)";

        public JsonNode? Json() => double.IsFinite(Median) ? new JsonObject { ["median"] = Math.Round(Median, 3), ["min"] = Math.Round(Min, 3), ["max"] = Math.Round(Max, 3) } : null;
    }

    /// <summary>CPU-seconds per GiB, user and system apart.</summary>
    public sealed record PerGiB(double User, double System)
    {
        public double Total => User + System;
    }

    internal sealed record NodeRun(double MBps, PerGiB Node, PerGiB Agent, double FioSeconds, double ForeignCores, string Threads, long MemFreeBefore);
    sealed record FloorRun(double MBps, PerGiB Floor, double ForeignCores, long MemFreeBefore);
    sealed record AgentRun(double MBps, PerGiB Agent, PerGiB AgentDuringFio, long OverflowPasses, long OverflowRegions, long BlocksResent, double CatchUpSeconds, double ForeignCores);
    sealed record NbdkitRun(double MBps, PerGiB Nbdkit, double ForeignCores);

    internal sealed partial class Run(Bench bench, int pairs, CancellationToken ct)
    {
        readonly List<NodeRun> _node = [];
        readonly List<FloorRun> _floor = [];
        readonly List<AgentRun> _agent = [];
        readonly List<NbdkitRun> _nbdkit = [];
        readonly List<string> _notes = [];
        string _pinning = "";
        string? _profile;
        int MiB => bench.Profile.ThroughputMiB;

        /// <summary>
        /// Before each run, sync, wait (up to 30 s) until srnode is idle (after a bookmark it still flushes the replica and
        /// writes a checkpoint), and drop the site's files from the page cache, so every run finds free pages rather than
        /// the previous run's. The floor still costs about 2.5 × more CPU per GiB right after a node run than right after
        /// a floor run with 14 GiB free before both (cause not found, docs/performance.md, session 14): the report prints
        /// the floor and the node split by what ran before them, and ABBA weighs both states alike.
        /// </summary>
        async Task SettleAsync()
        {
            await Bench.SyncAsync(ct);
            // The node's files and the agent's disk; the floor's source stays cached, as fio's buffers are in memory.
            Probes.EvictFromPageCache(bench.NodeDataDir);
            Probes.EvictFromPageCache(bench.AgentImage);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                var window = new CpuWindow(("srnode", bench.Node.Pid));
                await Task.Delay(1000, ct);
                if (window.Stop().Of("srnode").PercentOfCore < 10) return;
            }
        }

        // ------------------------------------------------------------ profile

        public async Task ProfileNodeAsync(string dir)
        {
            const string step = "profile srnode (perf)";
            Bench.Step(step + ": one extra figure-2a run, not counted");
            Directory.CreateDirectory(dir);
            var data = Path.Combine(dir, "node-2a.perf.data");
            var perf = bench.StartChild("perf", "perf", ["record", "-F", "499", "-g", "-p", bench.Node.Pid.ToString(CultureInfo.InvariantCulture), "-o", data]);
            await Task.Delay(1000, ct);   // perf attaches to every thread before the job starts
            perf.EnsureRunning(step);
            var run = await NodeRunAsync("cpu-profile");
            await perf.StopAsync(TimeSpan.FromSeconds(60));
            var text = Path.Combine(dir, "node-2a.txt");
            async Task<string> Report(params string[] sort) =>
                (await Tools.RunAsync("perf", ["report", "-i", data, "--stdio", "--no-children", "-g", "none", "--percent-limit", "0.3", .. sort], TimeSpan.FromMinutes(5), step, ct)).StdOut;
            await File.WriteAllTextAsync(text, $"srnode during one figure-2a run ({run.MBps:0} MB/s, {run.Node.Total:0.00} CPU-s/GiB)\n\n--- by thread\n{await Report("--sort", "comm")}" +
                $"\n--- by dso\n{await Report("--sort", "dso")}\n--- by symbol\n{await Report("--sort", "dso,symbol")}", ct);
            _profile = text;
            Console.WriteLine($"  profile: {text} (perf data {data}); the run under perf: {run.MBps:0} MB/s, node {run.Node.Total:0.00} CPU-s/GiB");
        }

        // ------------------------------------------------------------ figure 2a against the floor and ceiling

        public async Task FigureTwoPairsAsync()
        {
            var source = Path.Combine(bench.WorkDir, "floor-source.bin");
            await Bench.WriteRandomFileAsync(source, (long)MiB << 20, ct);   // not timed; stays in the page cache, as fio's buffers are in memory
            for (var i = 0; i < pairs; i++)
            {
                // ABBA: A first in even pairs, B first in odd ones.
                Bench.Step($"2a pair {i + 1}/{pairs}");
                if (i % 2 == 0) { _node.Add(await NodeRunAsync($"cpu-2a-{i}")); _floor.Add(await FloorRunAsync(source)); }
                else { _floor.Add(await FloorRunAsync(source)); _node.Add(await NodeRunAsync($"cpu-2a-{i}")); }
                Console.WriteLine($"  node {_node[^1].MBps:0} MB/s, {_node[^1].Node.Total:0.00} CPU-s/GiB (user {_node[^1].Node.User:0.00}, sys {_node[^1].Node.System:0.00}; MemFree before {_node[^1].MemFreeBefore >> 30} GiB); " +
                                  $"three dd's {_floor[^1].MBps:0} MB/s each, {_floor[^1].Floor.Total:0.00} CPU-s/GiB (user {_floor[^1].Floor.User:0.00}, sys {_floor[^1].Floor.System:0.00}; MemFree before {_floor[^1].MemFreeBefore >> 30} GiB)");
            }
            File.Delete(source);
        }

        internal async Task<NodeRun> NodeRunAsync(string job)
        {
            var step = $"2a CPU per byte ({job})";
            await SettleAsync();
            var memFree = Probes.MemInfo("MemFree");
            var cpu = new CpuWindow(("srnode", bench.Node.Pid), ("sragent", bench.Agent.Pid));
            var sw = Stopwatch.StartNew();
            var fio = await bench.FioThroughSiteAsync(bench.SeqWriteJob(job, MiB, Bench.Incompressible), step, ct);
            await bench.Api.BookmarkAsync(bench.NextBookmark(), [Bench.Disk], step, ct);
            var total = sw.Elapsed.TotalSeconds;
            var usage = cpu.Stop();
            var gib = fio.Bytes / GiB;
            var node = usage.Of("srnode");
            var agent = usage.Of("sragent");
            var fioSeconds = (fio.UsrCpuPercent + fio.SysCpuPercent) / 100 * fio.Seconds;
            var foreign = Math.Max(0, usage.MachineBusySeconds - node.UserSeconds - node.SystemSeconds - agent.UserSeconds - agent.SystemSeconds - fioSeconds) / total;
            var threads = string.Join(", ", node.BusiestThreads.Select(t => $"'{t.Name}' {t.PercentOfCore:0}%"));
            return new NodeRun(fio.Bytes / total / MB, new(node.UserSeconds / gib, node.SystemSeconds / gib), new(agent.UserSeconds / gib, agent.SystemSeconds / gib),
                fioSeconds / gib, foreign, threads, memFree);
        }

        [GeneratedRegex(@"(\d+)m([0-9.]+)s\s+(\d+)m([0-9.]+)s\s*$")]
        private static partial Regex TimesLine();

        /// <summary>
        /// The floor and the ceiling: three dd's at once, each copying the same bytes to its own file and fsync'ing it, as
        /// figure 2a makes them durable in the spool, the journal and the replica. Their CPU is bash's <c>times</c> for
        /// its children (the kernel's writeback threads count for neither side).
        /// </summary>
        async Task<FloorRun> FloorRunAsync(string source)
        {
            const string step = "2a floor (three durable copies)";
            await SettleAsync();
            var memFree = Probes.MemInfo("MemFree");
            var copies = Enumerable.Range(1, 3).Select(k => Path.Combine(bench.WorkDir, $"floor-copy-{k}.bin")).ToArray();
            var script = string.Join(" ", copies.Select(c => $"dd if='{source}' of='{c}' bs=1M count={MiB} conv=fsync status=none &")) + " wait; times";
            var before = Probes.SystemCpu();
            var sw = Stopwatch.StartNew();
            var r = await Tools.RunAsync("bash", ["-c", script], TimeSpan.FromMinutes(10), step, ct);
            var seconds = sw.Elapsed.TotalSeconds;
            var after = Probes.SystemCpu();
            foreach (var c in copies) File.Delete(c);
            var m = TimesLine().Match(r.StdOut.Trim());
            if (!m.Success) throw new BenchException(step, "cannot read bash's times: " + Tools.Tail(r.StdOut, 300));
            double S(int g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
            var user = S(1) * 60 + S(2);
            var system = S(3) * 60 + S(4);
            var gib = ((long)MiB << 20) / GiB;   // per GiB of data copied, as the node's is per GiB replicated: the three copies are the floor's job
            var busy = (after.Busy - before.Busy) / (double)Probes.TicksPerSecond;
            return new FloorRun(((long)MiB << 20) / seconds / MB, new(user / gib, system / gib), Math.Max(0, busy - user - system) / seconds, memFree);
        }

        // ------------------------------------------------------------ figure 4: the agent against nbdkit

        public async Task FigureFourPairsAsync()
        {
            var image = Path.Combine(bench.WorkDir, "nbdkit.img");
            await Bench.WriteRandomFileAsync(image, (long)bench.Profile.DiskMiB << 20, ct);   // written once and synced, like the agent's disk (see Bench.NbdkitAsync)
            // srnode on the other core than the servers measured, so the agent's figure is its own CPU, not a share of one core.
            var pin = Environment.ProcessorCount >= 2;
            if (pin)
            {
                await Pin(bench.Node.Pid, "1");
                await Pin(bench.Agent.Pid, "0");
                _pinning = "srnode pinned to core 1, sragent and nbdkit to core 0 (taskset), fio free";
            }
            else _pinning = $"one core only: nothing pinned (the node shares the agent's core)";
            try
            {
                for (var i = 0; i < pairs; i++)
                {
                    Bench.Step($"4 pair {i + 1}/{pairs}");
                    if (i % 2 == 0) { _agent.Add(await AgentRunAsync($"cpu-4-agent-{i}")); _nbdkit.Add(await NbdkitRunAsync(image, pin, $"cpu-4-nbdkit-{i}")); }
                    else { _nbdkit.Add(await NbdkitRunAsync(image, pin, $"cpu-4-nbdkit-{i}")); _agent.Add(await AgentRunAsync($"cpu-4-agent-{i}")); }
                    var a = _agent[^1];
                    Console.WriteLine($"  agent {a.MBps:0} MB/s, {a.Agent.Total:0.00} CPU-s/GiB (user {a.Agent.User:0.00}, sys {a.Agent.System:0.00}; {a.AgentDuringFio.Total:0.00} during fio), " +
                                      $"overflow {a.OverflowPasses} × ({a.OverflowRegions} regions), {a.BlocksResent} blocks of 64 KiB resent; nbdkit {_nbdkit[^1].MBps:0} MB/s, {_nbdkit[^1].Nbdkit.Total:0.00} CPU-s/GiB");
                }
            }
            finally
            {
                if (pin)
                {
                    var all = $"0-{Environment.ProcessorCount - 1}";
                    await Pin(bench.Node.Pid, all);
                    await Pin(bench.Agent.Pid, all);
                }
            }
            File.Delete(image);
        }

        /// <summary>Every thread of the process on <paramref name="cores"/>; threads it starts later inherit that.</summary>
        Task Pin(int pid, string cores) => Tools.RunAsync("taskset", ["-a", "-p", "-c", cores, pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), "pin " + pid, ct);

        async Task<AgentRun> AgentRunAsync(string job)
        {
            var step = $"4 agent CPU per byte ({job})";
            await SettleAsync();
            var (passes, regions, resent) = bench.Overflows;
            var cpu = new CpuWindow(("sragent", bench.Agent.Pid), ("srnode", bench.Node.Pid));
            var fio = await bench.FioThroughSiteAsync(bench.NbdJob(job, bench.AgentNbdUri), step, ct);
            var duringFio = cpu.Stop();
            var sw = Stopwatch.StartNew();
            // The writes the agent took are the agent's to replicate: its window ends when they are durable at the replica.
            await bench.Api.BookmarkAsync(bench.NextBookmark(), [Bench.Disk], step, ct);
            var catchUp = sw.Elapsed.TotalSeconds;
            var usage = cpu.Stop();
            var (passesAfter, regionsAfter, resentAfter) = bench.Overflows;
            var gib = fio.Bytes / GiB;
            var agent = usage.Of("sragent");
            var node = usage.Of("srnode");
            var during = duringFio.Of("sragent");
            var fioSeconds = (fio.UsrCpuPercent + fio.SysCpuPercent) / 100 * fio.Seconds;
            var wall = fio.Wall.TotalSeconds + catchUp;
            var foreign = Math.Max(0, usage.MachineBusySeconds - agent.UserSeconds - agent.SystemSeconds - node.UserSeconds - node.SystemSeconds - fioSeconds) / wall;
            return new AgentRun(fio.BytesPerSecond / MB, new(agent.UserSeconds / gib, agent.SystemSeconds / gib), new(during.UserSeconds / gib, during.SystemSeconds / gib),
                passesAfter - passes, regionsAfter - regions, resentAfter - resent, catchUp, foreign);
        }

        /// <summary>
        /// One nbdkit run, nbdkit started for it (as Bench.NbdkitRunAsync does). Once, an nbdkit that served minutes
        /// exited with code 0 between runs, twice under a run, with nothing in its log; the machine is shared, so the run
        /// is tried once more when nbdkit is gone at its end, and the retry is printed.
        /// </summary>
        async Task<NbdkitRun> NbdkitRunAsync(string image, bool pin, string job)
        {
            try { return await NbdkitOnceAsync(image, pin, job); }
            catch (NbdkitGone e)
            {
                Console.WriteLine($"  {e.Message}; the run is repeated once");
                return await NbdkitOnceAsync(image, pin, job + "-again");
            }
        }

        sealed class NbdkitGone(string message) : Exception(message);

        async Task<NbdkitRun> NbdkitOnceAsync(string image, bool pin, string job)
        {
            var step = $"4 nbdkit CPU per byte ({job})";
            await SettleAsync();
            var port = Net.FreePort();
            var args = new List<string> { "--foreground", "--exit-with-parent", "-i", "127.0.0.1", $"--port={port}", "file", image };
            var nbdkit = pin ? bench.StartChild("nbdkit", "taskset", ["-c", "0", "nbdkit", .. args]) : bench.StartChild("nbdkit", "nbdkit", args);
            await Net.WaitForPortAsync(port, TimeSpan.FromSeconds(20), step, nbdkit, ct);
            try { return await MeasureNbdkitAsync(nbdkit, port, job, step); }
            catch (BenchException e) when (nbdkit.HasExited)
            { throw new NbdkitGone($"nbdkit (pid {nbdkit.Pid}) exited with code {nbdkit.ExitCode} during {job}: {e.Message.Split('\n')[0]}"); }
            finally { await nbdkit.StopAsync(TimeSpan.FromSeconds(10)); }
        }

        async Task<NbdkitRun> MeasureNbdkitAsync(ChildProcess nbdkit, int port, string job, string step)
        {
            var cpu = new CpuWindow(("nbdkit", nbdkit.Pid));
            var fio = await Tools.FioAsync(bench.NbdJob(job, $"nbd://127.0.0.1:{port}"), TimeSpan.FromMinutes(5), step, ct);
            var usage = cpu.Stop();
            var gib = fio.Bytes / GiB;
            var n = usage.Of("nbdkit");
            var fioSeconds = (fio.UsrCpuPercent + fio.SysCpuPercent) / 100 * fio.Seconds;
            var foreign = Math.Max(0, usage.MachineBusySeconds - n.UserSeconds - n.SystemSeconds - fioSeconds) / fio.Wall.TotalSeconds;
            return new NbdkitRun(fio.BytesPerSecond / MB, new(n.UserSeconds / gib, n.SystemSeconds / gib), foreign);
        }

        // ------------------------------------------------------------ report

        public void Print(string repo, BenchOptions options)
        {
            var nodeCpu = Spread.Of(_node.Select(r => r.Node.Total));
            var nodeUser = Spread.Of(_node.Select(r => r.Node.User));
            var nodeSys = Spread.Of(_node.Select(r => r.Node.System));
            var floorCpu = Spread.Of(_floor.Select(r => r.Floor.Total));
            var floorUser = Spread.Of(_floor.Select(r => r.Floor.User));
            var floorSys = Spread.Of(_floor.Select(r => r.Floor.System));
            var nodeRatio = Spread.Of(_node.Zip(_floor, (a, b) => a.Node.Total / b.Floor.Total));
            var rate = Spread.Of(_node.Select(r => r.MBps));
            var ceiling = Spread.Of(_floor.Select(r => r.MBps));
            var rateRatio = Spread.Of(_node.Zip(_floor, (a, b) => a.MBps / b.MBps));
            var agentCpu = Spread.Of(_agent.Select(r => r.Agent.Total));
            var agentUser = Spread.Of(_agent.Select(r => r.Agent.User));
            var agentSys = Spread.Of(_agent.Select(r => r.Agent.System));
            var agentFio = Spread.Of(_agent.Select(r => r.AgentDuringFio.Total));
            var nbdkitCpu = Spread.Of(_nbdkit.Select(r => r.Nbdkit.Total));
            var nbdkitUser = Spread.Of(_nbdkit.Select(r => r.Nbdkit.User));
            var nbdkitSys = Spread.Of(_nbdkit.Select(r => r.Nbdkit.System));
            var agentRatio = Spread.Of(_agent.Zip(_nbdkit, (a, b) => a.Agent.Total / b.Nbdkit.Total));
            var agentFioRatio = Spread.Of(_agent.Zip(_nbdkit, (a, b) => a.AgentDuringFio.Total / b.Nbdkit.Total));
            var foreign = _node.Select(r => r.ForeignCores).Concat(_floor.Select(r => r.ForeignCores)).Concat(_agent.Select(r => r.ForeignCores)).Concat(_nbdkit.Select(r => r.ForeignCores)).ToList();
            var foreignSpread = Spread.Of(foreign);

            Console.WriteLine();
            Console.WriteLine($"SiteRecovery CPU per byte, {pairs} interleaved A/B pairs per figure (ABBA), {bench.Profile.Name} sizes — {bench.MachineSummary}");
            if (bench.BackgroundCores > 0.25 || foreignSpread.Max > 0.25)
                Console.WriteLine($"WARNING: other processes were busy on this machine ({bench.BackgroundCores * 100:0}% of a core before start; during the runs {foreignSpread.Text("0.00")} cores " +
                                  "outside the measured processes, median (min–max)); CPU-per-byte figures are noisy, rates pessimistic");
            else Console.WriteLine($"CPU outside the measured processes during the runs: {foreignSpread.Text("0.00")} cores, median (min–max)");
            Console.WriteLine($"sizes: figure 2a {MiB} MiB incompressible seq write (bs=1M iodepth=8) on a {bench.Profile.DiskMiB} MiB disk, fio start → bookmark durable; " +
                              $"floor/ceiling: three dd's of the same {MiB} MiB at once, bs=1M conv=fsync; figure 4: {bench.NbdScale}, {_pinning}" +
                              (options.Quick ? " (quick: scaled down from 1024 MiB and 15 s)" : ""));
            Console.WriteLine("CPU-s/GiB = CPU-seconds per GiB written by fio; values: median (min–max) over the pairs");
            Console.WriteLine();
            Console.WriteLine($"{"#",-9} {"figure",-52} {"A (measured)",-22} {"B (reference)",-22} {"A/B",-20} {"target",-8} met");
            void Row(string id, string name, Spread a, Spread b, Spread ratio, string fmt, string target, bool? met) =>
                Console.WriteLine($"{id,-9} {name,-52} {a.Text(fmt),-22} {b.Text(fmt),-22} {ratio.Text("0.00"),-20} {target,-8} {(met is null || !double.IsFinite(ratio.Median) ? "" : met.Value ? "yes" : "NO")}");
            Row("2a/cpu", "srnode CPU-s/GiB vs floor (3 dd's), total", nodeCpu, floorCpu, nodeRatio, "0.00", "<= 1.5", nodeRatio.Median <= 1.5);
            Row("", "  user", nodeUser, floorUser, Spread.Of(_node.Zip(_floor, (a, b) => a.Node.User / b.Floor.User)), "0.00", "", null);
            Row("", "  system", nodeSys, floorSys, Spread.Of(_node.Zip(_floor, (a, b) => a.Node.System / b.Floor.System)), "0.00", "", null);
            Row("2a/ceil", "figure 2a MB/s vs three durable copies at once", rate, ceiling, rateRatio, "0", ">= 0.6", rateRatio.Median >= 0.6);
            Row("4/cpu", "sragent CPU-s/GiB vs nbdkit, to bookmark durable", agentCpu, nbdkitCpu, agentRatio, "0.00", "<= 1.5", agentRatio.Median <= 1.5);
            Row("", "  user", agentUser, nbdkitUser, Spread.Of(_agent.Zip(_nbdkit, (a, b) => a.Agent.User / b.Nbdkit.User)), "0.00", "", null);
            Row("", "  system", agentSys, nbdkitSys, Spread.Of(_agent.Zip(_nbdkit, (a, b) => a.Agent.System / b.Nbdkit.System)), "0.00", "", null);
            Row("4/cpu-io", "  sragent during the fio run only vs nbdkit", agentFio, nbdkitCpu, agentFioRatio, "0.00", "info", null);
            Row("4/MBps", "  NBD MB/s, sragent vs nbdkit", Spread.Of(_agent.Select(r => r.MBps)), Spread.Of(_nbdkit.Select(r => r.MBps)),
                Spread.Of(_agent.Zip(_nbdkit, (a, b) => a.MBps / b.MBps)), "0", "info", null);
            Console.WriteLine();
            Console.WriteLine("details:");
            Console.WriteLine($"  4 overflow into the agent's dirty map, per agent run (buffer-full passes × regions held then, 64 KiB blocks resent): " +
                              $"{string.Join(", ", _agent.Select(a => $"{a.OverflowPasses} × {a.OverflowRegions}, {a.BlocksResent}"))}; " +
                              $"catch-up to the bookmark {Spread.Of(_agent.Select(a => a.CatchUpSeconds)).Text("0.0")} s");
            // ABBA puts a floor run right after a floor run (B first) or right after the node's run (A first): the first finds the
            // pages the last dd's freed, the second a page cache full of the node's files to reclaim. Printed apart, since it moves the floor most.
            Console.WriteLine($"  2a floor by what ran before it: after a floor run {Spread.Of(_floor.Where((_, i) => i % 2 == 1).Select(r => r.Floor.Total)).Text("0.00")} CPU-s/GiB, " +
                              $"after the node's run {Spread.Of(_floor.Where((_, i) => i % 2 == 0).Select(r => r.Floor.Total)).Text("0.00")}; srnode after a floor run " +
                              $"{Spread.Of(_node.Where((_, i) => i % 2 == 1).Select(r => r.Node.Total)).Text("0.00")}, after its own {Spread.Of(_node.Where((_, i) => i % 2 == 0).Select(r => r.Node.Total)).Text("0.00")}");
            Console.WriteLine($"  2a sragent in the same runs: {Spread.Of(_node.Select(r => r.Agent.Total)).Text("0.00")} CPU-s/GiB; fio {Spread.Of(_node.Select(r => r.FioSeconds)).Text("0.00")} CPU-s/GiB");
            for (var i = 0; i < _node.Count; i++) Console.WriteLine($"  2a run {i + 1} srnode busiest threads: {_node[i].Threads}");
            if (_profile is not null) Console.WriteLine($"  srnode profile (perf, one extra 2a run): {_profile}");

            var json = new JsonObject
            {
                ["started"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), ["machine"] = bench.MachineSummary, ["pairs"] = pairs, ["profile"] = bench.Profile.Name,
                ["foreignCores"] = foreignSpread.Json(), ["pinning"] = _pinning,
                ["nodeCpuPerGiB"] = new JsonObject { ["total"] = nodeCpu.Json(), ["user"] = nodeUser.Json(), ["system"] = nodeSys.Json() },
                ["floorCpuPerGiB"] = new JsonObject { ["total"] = floorCpu.Json(), ["user"] = floorUser.Json(), ["system"] = floorSys.Json() },
                ["nodeToFloor"] = nodeRatio.Json(), ["figure2aMBps"] = rate.Json(), ["ceilingMBps"] = ceiling.Json(), ["figure2aToCeiling"] = rateRatio.Json(),
                ["agentCpuPerGiB"] = new JsonObject { ["total"] = agentCpu.Json(), ["user"] = agentUser.Json(), ["system"] = agentSys.Json(), ["duringFio"] = agentFio.Json() },
                ["nbdkitCpuPerGiB"] = new JsonObject { ["total"] = nbdkitCpu.Json(), ["user"] = nbdkitUser.Json(), ["system"] = nbdkitSys.Json() },
                ["agentToNbdkit"] = agentRatio.Json(),
                ["overflowRegions"] = new JsonArray(_agent.Select(a => (JsonNode?)a.OverflowRegions).ToArray()),
                ["overflowBlocksResent"] = new JsonArray(_agent.Select(a => (JsonNode?)a.BlocksResent).ToArray()),
            };
            var dir = Path.GetFullPath(options.ResultsDir ?? Path.Combine(repo, "bench", "results"));
            Directory.CreateDirectory(dir);
            var file = Path.Combine(dir, "cpu-latest.json");
            File.WriteAllText(file, json.ToJsonString(Report.Indented) + "\n");
            Console.WriteLine($"results: {file}");
        }
    }
}
