using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Bench;

/// <summary>
/// srbench reprotect: what a reprotect after a failover moves. A source disk SRC (default 4 GiB of seeded random data) is
/// replicated to node T (the full copy, timed and counted). The failed-over machine's disk is a copy of SRC taken after the
/// agent's clean stop (identical to T's latest replica then), and a share of its 1 MiB blocks (default 5 %, distinct blocks
/// chosen by a seeded RNG) is rewritten in place: the writes the machine made at the target. Then node O
/// (process server + master target, <c>--replica-file d1=SRC</c>) and an agent on the failed-over copy started with
/// <c>--compare-with-replica</c> replicate back into SRC, resending only the blocks whose hashes differ (reason Reprotect).
/// Target: bytes sent within 1.2 × the rewritten bytes. Afterwards SRC must equal the failed-over copy byte for byte.
/// </summary>
/// <remarks>
/// Order of the run, and why each wait is there:
/// 1. SRC is filled and fsynced before any process starts, so the full copy reads data, not holes.
/// 2. Agent A is stopped with SIGTERM and waited for: a clean stop acknowledges every delta, so SRC is T's latest point.
/// 3. The rewrite is fsynced before agent R starts: R hashes the file as it is on disk.
/// 4. After R's resync-complete line a bookmark on O returns only once the master target has everything before it (a
///    refused bookmark is printed, not fatal), R and then O stop with SIGTERM; only then are SRC and the copy hashed.
/// </remarks>
public static class ReprotectBench
{
    const string Usage = "usage: srbench reprotect [--size-gib 4] [--rewrite-percent 5] [--strict] [--work-dir DIR] [--repo DIR] [--results DIR] [--keep]";
    const string Disk = "d1";
    const long MiB = 1 << 20;
    const long BlockBytes = MiB;
    const double Target = 1.2;
    /// <summary>Room left free beside the three disk-sized files (SRC, T's replica, the failed-over copy): journals, spools, logs.</summary>
    const long SpareBytes = 512 * MiB;
    static readonly TimeSpan ResyncTimeout = TimeSpan.FromMinutes(30);
    static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(60);

    /// <summary>The agent's <c>{"event":"resync-complete",…}</c> line.</summary>
    sealed record ResyncComplete(string Event, string Disk, string Reason, long BytesScanned, long BytesSent, long BlocksSent, long BlocksEqual, long SizeBytes, double Seconds);

    /// <summary>One timed resync: the agent's line, and the wall time from the agent's start to that line.</summary>
    sealed record Measured(ResyncComplete Line, double WallSeconds, bool StoppedCleanly);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var sizeGiB = 4;
        var rewritePercent = 5.0;
        string? repo = null, results = null, workParent = null;
        bool keep = false, strict = false;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--size-gib": sizeGiB = int.TryParse(Value(), out var g) && g is >= 1 and <= 64 ? g : throw new ArgumentException("--size-gib: a size in 1..64"); break;
                    case "--rewrite-percent": rewritePercent = double.TryParse(Value(), CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 50 ? p : throw new ArgumentException("--rewrite-percent: a percentage in (0, 50]"); break;
                    case "--strict": strict = true; break;
                    case "--work-dir": workParent = Value(); break;
                    case "--repo": repo = Value(); break;
                    case "--results": results = Value(); break;
                    case "--keep": keep = true; break;
                    case "--help" or "-h": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench reprotect: {e.Message}\n{Usage}");
            return 2;
        }

        const string step = "reprotect after a failover";
        repo ??= StallBench.FindRepoRoot();
        results ??= Path.Combine(repo, "bench", "results");
        workParent ??= Path.GetTempPath();
        var nodeDll = StallBench.Dll(repo, "SiteRecovery.Node", "srnode");
        var agentDll = StallBench.Dll(repo, "SiteRecovery.Agent", "sragent");

        // Three disk-sized files live at once: SRC, T's replica and the failed-over copy.
        var requestedBytes = (long)sizeGiB << 30;
        var free = new DriveInfo(Path.GetFullPath(workParent)).AvailableFreeSpace;
        var sizeBytes = requestedBytes;
        string? scaling = null;
        if (3 * requestedBytes + SpareBytes > free)
        {
            sizeBytes = (free - SpareBytes) / 3 / (256 * MiB) * (256 * MiB);
            if (sizeBytes < 256 * MiB)
            {
                Console.Error.WriteLine($"srbench reprotect: {free / MiB} MiB free in {workParent}; even a 256 MiB disk needs {(3 * 256 * MiB + SpareBytes) / MiB} MiB");
                return 1;
            }
            scaling = $"scaled down to {sizeBytes / MiB} MiB from {sizeGiB} GiB: {free / MiB} MiB free in {workParent}, 3 x size + {SpareBytes / MiB} MiB needed";
        }
        var blocks = sizeBytes / BlockBytes;
        var rewrittenBlocks = Math.Max(1, (long)Math.Round(blocks * rewritePercent / 100));
        var rewrittenBytes = rewrittenBlocks * BlockBytes;

        var work = Path.Combine(workParent, $"srbench-reprotect-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        var children = new List<ChildProcess>();
        try
        {
            Console.WriteLine($"reprotect after a failover: {sizeBytes / MiB} MiB disk of seeded random data, {rewritePercent}% of its {blocks} 1 MiB blocks rewritten at the target ({rewrittenBlocks} blocks); all on loopback; {Environment.ProcessorCount} cores, {StallBench.LoadAverage()}"
                + (scaling is null ? "" : $"\n  {scaling}"));
            var src = Path.Combine(work, "src.img");
            var failedOver = Path.Combine(work, "failed-over.img");

            Console.WriteLine($"  filling SRC ({sizeBytes / MiB} MiB, System.Random seed 1 in 4 MiB chunks) ...");
            await FillAsync(src, sizeBytes, ct);

            // Forward site: node T with every role, agent A on SRC. Its initial replication is the full copy.
            int tPs = Net.FreePort(), tMt = Net.FreePort(), tApi = Net.FreePort(), aNbd = Net.FreePort();
            var t = Child.StartNode("srnode-T", [nodeDll, "run", "--id", "site-t", "--roles", "all", "--data", Path.Combine(work, "node-t"),
                "--ps-listen", $"127.0.0.1:{tPs}", "--mt-listen", $"127.0.0.1:{tMt}", "--api", $"http://127.0.0.1:{tApi}"], work);
            children.Add(t);
            using (var tApiClient = new NodeApi($"http://127.0.0.1:{tApi}", Path.Combine(work, "node-t")))
                await StallBench.WaitUpAsync(t, tApiClient, step, ct);
            Console.WriteLine($"  full copy: initial replication of SRC to node T ...");
            var full = await ReplicateAsync("sragent-A", [agentDll, "run", "--id", "vm1", "--disk", $"{Disk}={src}", "--nbd", $"127.0.0.1:{aNbd}",
                "--process-server", $"127.0.0.1:{tPs}", "--state-dir", Path.Combine(work, "agent-a"), "--json"], "InitialReplication", work, children, null, ct);
            Console.WriteLine($"  ... {full.Line.BytesSent / MiB} MiB sent in {full.WallSeconds:0.0} s; agent A stopped {(full.StoppedCleanly ? "cleanly" : "by SIGKILL after 60 s (not clean)")}");
            if (!full.StoppedCleanly) throw new BenchException(step, "agent A did not exit within 60 s of SIGTERM, so SRC may not be T's latest point; log " + Path.Combine(work, "sragent-A.log"));
            await t.StopAsync(StopGrace);

            // "Failover": the machine at the target runs on a copy of the replica, then writes to some of its blocks.
            Console.WriteLine($"  failover: copying SRC (identical to T's replica after A's clean stop), rewriting {rewrittenBlocks} blocks (System.Random seeds 2 and 3) ...");
            File.Copy(src, failedOver);
            RewriteBlocks(failedOver, blocks, rewrittenBlocks);

            // Reprotect: node O keeps d1's replica in SRC; agent R on the failed-over copy compares and resends what differs.
            int oPs = Net.FreePort(), oMt = Net.FreePort(), oApi = Net.FreePort(), rNbd = Net.FreePort();
            var o = Child.StartNode("srnode-O", [nodeDll, "run", "--id", "site-o", "--roles", "process-server,master-target", "--data", Path.Combine(work, "node-o"),
                "--ps-listen", $"127.0.0.1:{oPs}", "--mt-listen", $"127.0.0.1:{oMt}", "--api", $"http://127.0.0.1:{oApi}", "--replica-file", $"{Disk}={src}"], work);
            children.Add(o);
            using var oApiClient = new NodeApi($"http://127.0.0.1:{oApi}", Path.Combine(work, "node-o"));
            await StallBench.WaitUpAsync(o, oApiClient, step, ct);
            Console.WriteLine($"  reprotect: agent R on the failed-over copy, --compare-with-replica against SRC at node O ...");
            var reprotect = await ReplicateAsync("sragent-R", [agentDll, "run", "--id", "vm1", "--disk", $"{Disk}={failedOver}", "--nbd", $"127.0.0.1:{rNbd}",
                "--process-server", $"127.0.0.1:{oPs}", "--state-dir", Path.Combine(work, "agent-r"), "--compare-with-replica", "--json"], "Reprotect", work, children,
                // Before R stops: a bookmark returns once the master target holds everything R sent before it. A refusal is
                // reported, not fatal: R's clean stop still waits for every acknowledgement, and the SHA-256 check decides.
                async () =>
                {
                    try { await oApiClient.BookmarkAsync("reprotect-done", [Disk], step, ct); }
                    catch (Exception e) when (e is BenchException or HttpRequestException)
                    {
                        Console.WriteLine($"  (bookmark on node O before stopping R refused: {e.Message}; stopping R anyway)");
                    }
                }, ct);
            Console.WriteLine($"  ... {reprotect.Line.BytesSent / MiB} MiB sent in {reprotect.WallSeconds:0.0} s; agent R stopped {(reprotect.StoppedCleanly ? "cleanly" : "by SIGKILL after 60 s (not clean)")}");
            var oClean = await o.StopAsync(StopGrace);

            Console.WriteLine("  SHA-256 of SRC and of the failed-over copy ...");
            var hashes = await Task.WhenAll(Sha256Async(src, ct), Sha256Async(failedOver, ct));
            var equal = hashes[0] == hashes[1];

            var bytesRatio = (double)reprotect.Line.BytesSent / rewrittenBytes;
            var secondsRatio = reprotect.WallSeconds / full.WallSeconds;
            var met = bytesRatio <= Target;
            Console.WriteLine();
            Console.WriteLine($"{"",-34} {"bytes",14} {"MiB",8} {"seconds",8}");
            Console.WriteLine($"{"disk size" + (scaling is null ? "" : " (scaled)"),-34} {sizeBytes,14} {sizeBytes / MiB,8}");
            Console.WriteLine($"{$"rewritten ({rewrittenBlocks} x 1 MiB blocks)",-34} {rewrittenBytes,14} {rewrittenBytes / MiB,8}");
            Console.WriteLine($"{"full copy (InitialReplication)",-34} {full.Line.BytesSent,14} {full.Line.BytesSent / MiB,8} {full.WallSeconds,8:0.0}");
            Console.WriteLine($"{"reprotect (Reprotect)",-34} {reprotect.Line.BytesSent,14} {reprotect.Line.BytesSent / MiB,8} {reprotect.WallSeconds,8:0.0}");
            Console.WriteLine($"bytes ratio reprotect / rewritten: {bytesRatio:0.000}  target <= {Target}: {(met ? "met" : "MISSED")}");
            Console.WriteLine($"seconds ratio reprotect / full copy: {secondsRatio:0.000}");
            Console.WriteLine($"reprotect scanned {reprotect.Line.BytesScanned / MiB} MiB, {reprotect.Line.BlocksSent} blocks sent, {reprotect.Line.BlocksEqual} equal (agent's own seconds: full copy {full.Line.Seconds:0.0}, reprotect {reprotect.Line.Seconds:0.0}; the table's seconds run from each agent's start)");
            Console.WriteLine($"SHA-256 SRC vs failed-over copy: {(equal ? "equal" : "DIFFERENT")} ({hashes[0][..16]}… / {hashes[1][..16]}…); node O stopped {(oClean ? "cleanly" : "by SIGKILL")}; {StallBench.LoadAverage()}");
            if (scaling is not null) Console.WriteLine($"scaling: {scaling}; the issue's figure is for 4 GiB");

            Directory.CreateDirectory(results);
            var json = JsonSerializer.Serialize(new
            {
                time = DateTime.UtcNow, requestedGiB = sizeGiB, sizeBytes, scaling, rewritePercent, rewrittenBlocks, rewrittenBytes,
                fill = "System.Random(1).NextBytes in 4 MiB chunks", failover = "copy of SRC after agent A's clean stop",
                fullCopy = new { full.Line.BytesSent, full.Line.BytesScanned, seconds = full.WallSeconds, agentSeconds = full.Line.Seconds },
                reprotect = new { reprotect.Line.BytesSent, reprotect.Line.BytesScanned, reprotect.Line.BlocksSent, reprotect.Line.BlocksEqual, seconds = reprotect.WallSeconds, agentSeconds = reprotect.Line.Seconds },
                bytesRatio, secondsRatio, target = Target, met, sha256Equal = equal, sha256Src = hashes[0], sha256FailedOver = hashes[1],
                cores = Environment.ProcessorCount, load = StallBench.LoadAverage(),
            }, new JsonSerializerOptions { WriteIndented = true });
            await File.WriteAllTextAsync(Path.Combine(results, "reprotect-latest.json"), json, ct);
            if (!equal) { keep = true; return 1; }
            return strict && !met ? 3 : 0;
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

    /// <summary>
    /// Starts an agent, waits for its resync-complete line for <see cref="Disk"/> with <paramref name="reason"/>, runs
    /// <paramref name="beforeStop"/> if given, then stops the agent with SIGTERM and waits for its exit.
    /// </summary>
    static async Task<Measured> ReplicateAsync(string name, string[] args, string reason, string work, List<ChildProcess> children, Func<Task>? beforeStop, CancellationToken ct)
    {
        var step = $"{name}: resync ({reason})";
        var lines = new ConcurrentQueue<(DateTime At, string Line)>();
        var started = DateTime.UtcNow;
        var agent = Child.Start(name, "dotnet", args, work, line => lines.Enqueue((DateTime.UtcNow, line)));
        children.Add(agent);
        var deadline = started + ResyncTimeout;
        while (true)
        {
            foreach (var (at, line) in lines)
            {
                if (!line.StartsWith('{') || !line.Contains("\"resync-complete\"", StringComparison.Ordinal)) continue;
                ResyncComplete? done;
                try { done = JsonSerializer.Deserialize<ResyncComplete>(line, JsonSerializerOptions.Web); }
                catch (JsonException e) { throw new BenchException(step, $"cannot read the agent's line '{line}': {e.Message}"); }
                if (done is null || done.Disk != Disk) continue;
                if (done.Reason != reason) throw new BenchException(step, $"resync of {Disk} completed with reason {done.Reason}, want {reason}: '{line}'");
                if (beforeStop is not null) await beforeStop();
                var clean = await agent.StopAsync(StopGrace);
                return new Measured(done, (at - started).TotalSeconds, clean);
            }
            agent.EnsureRunning(step);
            if (DateTime.UtcNow > deadline) throw new BenchException(step, $"no resync-complete line within {ResyncTimeout.TotalMinutes:0} min; last output:\n  {agent.RecentOutput()}");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Fills the disk with seeded random data in 4 MiB chunks and fsyncs it.</summary>
    static async Task FillAsync(string path, long bytes, CancellationToken ct)
    {
        var rng = new Random(1);
        var chunk = new byte[4 * MiB];
        await using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
        for (long done = 0; done < bytes; done += chunk.Length)
        {
            rng.NextBytes(chunk);
            await f.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - done)), ct);
        }
        f.Flush(flushToDisk: true);
    }

    /// <summary>Rewrites <paramref name="count"/> distinct 1 MiB blocks (seed 2 picks them, seed 3 makes their content) and fsyncs.</summary>
    static void RewriteBlocks(string path, long blocks, long count)
    {
        // A partial Fisher–Yates shuffle of the block indices: the first count are distinct and uniformly chosen.
        var order = new long[blocks];
        for (long i = 0; i < blocks; i++) order[i] = i;
        var pick = new Random(2);
        for (long i = 0; i < count; i++)
        {
            var j = pick.NextInt64(i, blocks);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var content = new Random(3);
        var block = new byte[BlockBytes];
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        for (long i = 0; i < count; i++)
        {
            content.NextBytes(block);
            RandomAccess.Write(handle, block, order[i] * BlockBytes);
        }
        RandomAccess.FlushToDisk(handle);
    }

    static async Task<string> Sha256Async(string path, CancellationToken ct)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(f, ct));
    }
}
