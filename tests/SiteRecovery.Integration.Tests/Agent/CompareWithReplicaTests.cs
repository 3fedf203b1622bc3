using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using SiteRecovery.Agent;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// <c>sragent run --compare-with-replica</c>: the disk was written outside the agent (reprotect after a failover, a
/// failback), so its clean state file cannot be trusted. With the flag the first start compares every block with the
/// replica by hash and resends exactly what differs (reason <see cref="ResyncReason.Reprotect"/>); without it the same
/// restart resyncs nothing and the replica silently differs — the hazard the flag exists for.
/// The agent is run here by the test itself (not by <see cref="Site"/>), so each start can set its own options.
/// </summary>
public class CompareWithReplicaTests
{
    const int Block = 1 << 20;
    const long Size = 64L * Block;
    // Distinct 1 MiB blocks rewritten outside the agent: first, inner and last block.
    static readonly int[] Rewritten = [0, 3, 17, 41, 63];

    sealed class Agent(MobilityAgent agent, List<ResyncSummary> summaries) : IAsyncDisposable
    {
        public MobilityAgent Inner => agent;
        public IReadOnlyList<ResyncSummary> Summaries { get { lock (summaries) return summaries.ToList(); } }
        public ValueTask DisposeAsync() => agent.DisposeAsync();
    }

    static async Task<Agent> StartAgentAsync(Site site, string diskPath, bool compare, long bufferBytes = 64L << 20, TimeSpan? drainTimeout = null,
        EndPoint? via = null)
    {
        var summaries = new List<ResyncSummary>();
        var options = new AgentOptions("agent-1", [new AgentDisk("disk1", diskPath)], new IPEndPoint(IPAddress.Loopback, 0), via ?? site.ProcessEndpoint!,
            Path.Combine(site.Root, "agent"))
        {
            CompareWithReplica = compare,
            BufferBytesPerDisk = bufferBytes,
            DrainTimeout = drainTimeout ?? TimeSpan.FromSeconds(20),
            ResyncCompleted = s => { lock (summaries) summaries.Add(s); },
        };
        var agent = new MobilityAgent(options, m => { lock (site.Log) site.Log.Add(m); });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await agent.StartAsync(cts.Token);
        return new Agent(agent, summaries);
    }

    /// <summary>Waits until the target holds everything the agent numbered and no resync runs.</summary>
    static async Task CatchUpAsync(Site site, Agent agent, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var disks = site.Target.Disks;
            if (agent.Inner.Exports.All(e => disks.TryGetValue(e.Name, out var d) && d.AppliedThrough >= e.Stream.LastSequence && e.Dirty.Count == 0)
                && agent.Inner.Client!.ResyncsRunning == 0)
                return;
            await Task.Delay(20);
        }
        throw new TimeoutException("replication did not catch up:\n" + string.Join("\n", site.Log.TakeLast(20)));
    }

    static async Task<string> LatestReplicaSha256Async(Site site, string name)
    {
        var output = Path.Combine(site.Root, name);
        await site.Target.RecoverAsync("disk1", site.Target.Disks["disk1"].AppliedThrough, output, null, default);
        var sha = Tools.Sha256(output);
        File.Delete(output);
        return sha;
    }

    static string CreateRandomDisk(Site site)
    {
        var path = Path.Combine(site.Root, "disk1.img");
        var data = new byte[Size];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>Rewrites <see cref="Rewritten"/> blocks of the source file directly, as another writer would.</summary>
    static void RewriteOutsideTheAgent(string path)
    {
        var rng = new Random(99);
        var block = new byte[Block];
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        foreach (var b in Rewritten)
        {
            rng.NextBytes(block);
            f.Position = (long)b * Block;
            f.Write(block);
        }
    }

    static void AssertReprotectSentOnlyTheRewrittenBlocks(ResyncSummary s)
    {
        Assert.Equal(ResyncReason.Reprotect, s.Reason);
        Assert.Equal(Size, s.BytesScanned);
        Assert.Equal((long)Rewritten.Length * Block, s.BytesSent);
        Assert.Equal(Rewritten.Length, s.BlocksSent);
        Assert.Equal(Size / Block - Rewritten.Length, s.BlocksEqual);
        Assert.Equal(Size, s.SizeBytes);
        // The --json line the agent prints, field for field.
        using var json = JsonDocument.Parse(s.ToJson());
        var root = json.RootElement;
        Assert.Equal("resync-complete", root.GetProperty("event").GetString());
        Assert.Equal("disk1", root.GetProperty("disk").GetString());
        Assert.Equal("Reprotect", root.GetProperty("reason").GetString());
        Assert.Equal(Size, root.GetProperty("bytesScanned").GetInt64());
        Assert.Equal((long)Rewritten.Length * Block, root.GetProperty("bytesSent").GetInt64());
        Assert.Equal(Rewritten.Length, root.GetProperty("blocksSent").GetInt64());
        Assert.Equal(Size / Block - Rewritten.Length, root.GetProperty("blocksEqual").GetInt64());
        Assert.Equal(Size, root.GetProperty("sizeBytes").GetInt64());
        Assert.True(root.GetProperty("seconds").GetDouble() >= 0);
    }

    [Fact]
    public async Task Failback_restart_with_the_flag_resends_exactly_the_blocks_written_outside_the_agent()
    {
        await using var site = await Site.StartServersAsync("reprotect");
        var disk = CreateRandomDisk(site);

        await using (var first = await StartAgentAsync(site, disk, compare: false))
        {
            await CatchUpAsync(site, first, TimeSpan.FromSeconds(60));
            var initial = Assert.Single(first.Summaries);
            Assert.Equal(ResyncReason.InitialReplication, initial.Reason);
            Assert.Equal(Size, initial.BytesSent); // random data: no block is zero
        }
        Assert.Equal(Tools.Sha256(disk), await LatestReplicaSha256Async(site, "initial.img"));

        RewriteOutsideTheAgent(disk);
        var source = Tools.Sha256(disk);

        // The hazard: the state file says clean at the durable sequence, so a plain restart resyncs nothing.
        await using (var plain = await StartAgentAsync(site, disk, compare: false))
        {
            await CatchUpAsync(site, plain, TimeSpan.FromSeconds(30));
            Assert.Empty(plain.Summaries);
        }
        Assert.NotEqual(source, await LatestReplicaSha256Async(site, "diverged.img"));

        await using (var reprotect = await StartAgentAsync(site, disk, compare: true))
        {
            await CatchUpAsync(site, reprotect, TimeSpan.FromSeconds(60));
            AssertReprotectSentOnlyTheRewrittenBlocks(Assert.Single(reprotect.Summaries));
        }
        Assert.Equal(source, await LatestReplicaSha256Async(site, "reprotected.img"));

        // The compare finished and the stop was clean: a later start without the flag trusts the state again.
        await using (var after = await StartAgentAsync(site, disk, compare: false))
        {
            await CatchUpAsync(site, after, TimeSpan.FromSeconds(30));
            Assert.Empty(after.Summaries);
        }
        Assert.Contains(site.Log, l => l.Contains("resync started (Reprotect)"));
    }

    [Fact]
    public async Task Reprotect_into_an_adopted_prefilled_replica_compares_hashes_even_with_nothing_durable()
    {
        await using var site = await Site.StartServersAsync("adopted");
        var disk = CreateRandomDisk(site);
        // The master target adopts the original disk as the replica of a disk id it never saw (no disk.json, durable 0).
        var replicas = Path.Combine(site.Root, "mt", "replicas");
        Directory.CreateDirectory(replicas);
        File.Copy(disk, Path.Combine(replicas, "disk1.img"));
        Assert.False(Directory.Exists(Path.Combine(site.Root, "mt", "disks", "disk1")) && File.Exists(Path.Combine(site.Root, "mt", "disks", "disk1", "disk.json")));
        RewriteOutsideTheAgent(disk);
        var source = Tools.Sha256(disk);

        await using (var agent = await StartAgentAsync(site, disk, compare: true))
        {
            await CatchUpAsync(site, agent, TimeSpan.FromSeconds(60));
            // Not the InitialReplication path (which would send all 64 MiB of non-zero data): only what differs.
            AssertReprotectSentOnlyTheRewrittenBlocks(Assert.Single(agent.Summaries));
        }
        // The live replica file now equals the source. (Not checked through a recovery point: the master target's
        // retention base image of a new disk starts empty, not from the adopted file, so its points lack the adopted content.)
        Assert.Equal(source, Tools.Sha256(Path.Combine(replicas, "disk1.img")));
    }

    [Fact]
    public void A_reprotect_resync_is_a_Resync_job_that_names_its_reason()
    {
        IReadOnlyDictionary<string, SiteRecovery.Actors.ReadModels.Job> jobs = new Dictionary<string, SiteRecovery.Actors.ReadModels.Job>();
        object[] events =
        [
            new SiteRecovery.Contracts.Control.DiskRegistered("d1", "vm", Size, "ps", "mt"),
            new SiteRecovery.Contracts.Control.ResyncCompleted("d1", 10),
            new SiteRecovery.Contracts.Control.ResyncRequired("d1", ResyncReason.Reprotect),
            new SiteRecovery.Contracts.Control.ResyncCompleted("d1", 20),
        ];
        var seq = 0L;
        foreach (var e in events) jobs = SiteRecovery.Actors.ReadModels.JobRules.Apply(jobs, e, 1000 + seq * 10, ++seq).Jobs;
        var resync = Assert.Single(jobs.Values, j => j.Kind == "Resync");
        Assert.Equal("reason Reprotect; complete at #20", resync.Detail);
    }

    /// <summary>The real replica stores, whose reads (the master target's hash answers) wait while <see cref="HoldReads"/> is set.</summary>
    sealed class HeldReads(IReplicaStoreFactory real) : IReplicaStoreFactory
    {
        volatile TaskCompletionSource _gate = Open();
        int _waiting;

        static TaskCompletionSource Open() { var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); t.SetResult(); return t; }

        public int Waiting => Volatile.Read(ref _waiting);
        public void HoldReads() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => _gate.TrySetResult();

        public async ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default)
            => new Store(this, await real.OpenAsync(diskId, size, cancellationToken));

        public ValueTask<bool> ExistsAsync(string diskId, CancellationToken cancellationToken = default) => real.ExistsAsync(diskId, cancellationToken);

        sealed class Store(HeldReads held, IReplicaStore inner) : IReplicaStore
        {
            public string DiskId => inner.DiskId;
            public long Size => inner.Size;
            public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) => inner.WriteAsync(offset, data, cancellationToken);
            public ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default) => inner.ZeroAsync(offset, length, cancellationToken);
            public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref held._waiting);
                try { await held._gate.Task.WaitAsync(cancellationToken); }
                finally { Interlocked.Decrement(ref held._waiting); }
                await inner.ReadAsync(offset, buffer, cancellationToken);
            }
            public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_compare_that_did_not_finish_is_done_in_full_at_the_next_start_even_without_the_flag()
    {
        HeldReads? held = null;
        await using var site = await Site.StartServersAsync("unfinished", s => s.WrapReplicas = real => held = new HeldReads(real));
        var disk = CreateRandomDisk(site);
        await using (var first = await StartAgentAsync(site, disk, compare: false))
            await CatchUpAsync(site, first, TimeSpan.FromSeconds(60));
        RewriteOutsideTheAgent(disk);
        var source = Tools.Sha256(disk);

        // The master target cannot answer the compare's hash request, so the compare cannot finish before the agent stops.
        held!.HoldReads();
        var stuck = await StartAgentAsync(site, disk, compare: true, drainTimeout: TimeSpan.FromSeconds(1));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (held.Waiting == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(held.Waiting > 0, "the compare never asked the master target for hashes");
        Assert.Equal(1, stuck.Inner.Client!.ResyncsRunning);
        await stuck.DisposeAsync();
        Assert.Empty(stuck.Summaries);
        held.Release();
        Assert.Contains(site.Log, l => l.Contains("stopped with unacknowledged deltas"));

        // Started without the flag, the state file is not clean and the activity log owes a full scan: the whole disk is compared.
        await using (var plain = await StartAgentAsync(site, disk, compare: false))
        {
            await CatchUpAsync(site, plain, TimeSpan.FromSeconds(60));
            var s = Assert.Single(plain.Summaries);
            Assert.Equal(ResyncReason.AgentRestartedWithoutTracking, s.Reason);
            Assert.Equal(Size, s.BytesScanned);
            Assert.Equal((long)Rewritten.Length * Block, s.BytesSent);
        }
        Assert.Equal(source, await LatestReplicaSha256Async(site, "completed.img"));
    }

    /// <summary>
    /// A compare whose hash request is in flight when the path to the process server drops (the process server restarts):
    /// the request is asked again on the next connection, so the compare finishes and still sends only the blocks that
    /// differ. (It failed on the closed stream, "no recovery point until the agent is restarted", or sent whole batches.)
    /// </summary>
    [Fact]
    public async Task A_compare_survives_its_process_server_restarting_mid_request_and_still_sends_only_what_differs()
    {
        HeldReads? held = null;
        await using var site = await Site.StartServersAsync("compare-reconnect", s => s.WrapReplicas = real => held = new HeldReads(real));
        var disk = CreateRandomDisk(site);
        await using (var first = await StartAgentAsync(site, disk, compare: false))
            await CatchUpAsync(site, first, TimeSpan.FromSeconds(60));
        RewriteOutsideTheAgent(disk);
        var source = Tools.Sha256(disk);

        held!.HoldReads();
        await using var agent = await StartAgentAsync(site, disk, compare: true);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (held.Waiting == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(held.Waiting > 0, "the compare never asked the master target for hashes");

        // The path drops with the request unanswered; the process server comes back on the same address.
        await site.Process.DisposeAsync();
        await site.StartProcessServerAsync();
        held.Release();

        await CatchUpAsync(site, agent, TimeSpan.FromSeconds(90));
        Assert.DoesNotContain(site.Log, l => l.Contains("resync (Reprotect) failed", StringComparison.Ordinal));
        AssertReprotectSentOnlyTheRewrittenBlocks(Assert.Single(agent.Summaries));
        Assert.Equal(source, await LatestReplicaSha256Async(site, "after-restart.img"));
    }

    /// <summary>
    /// The path drops right after the first resume, before the agent's resync notices leave it (a process server killed
    /// at that instant: ReprotectNodeKillTests' return, in CI). The next connection resends from its resume point; it
    /// does not settle the disk again (that renumbered a stream holding the compare's begin marker, threw, and ended the
    /// reconnect loop without a word: the agent never served its disks). The compare still sends only what differs,
    /// and the started notice is delivered once, on the next connection.
    /// </summary>
    [Fact]
    public async Task A_path_lost_right_after_the_first_resume_is_resumed_not_settled_again()
    {
        var events = new RecordingEvents();
        await using var site = await Site.StartServersAsync("cut-after-resume", s => s.Events = events);
        var disk = CreateRandomDisk(site);
        await using (var first = await StartAgentAsync(site, disk, compare: false))
            await CatchUpAsync(site, first, TimeSpan.FromSeconds(60));
        RewriteOutsideTheAgent(disk);
        var source = Tools.Sha256(disk);
        while (events.Resyncs.TryDequeue(out _)) { }

        // Cut until a connection got as far as the settle (the compare is logged there), which the next write then follows.
        bool Settled() { lock (site.Log) return site.Log.Any(l => l.Contains("--compare-with-replica", StringComparison.Ordinal)); }
        await using var relay = CutAfterResume.Start(site.ProcessEndpoint!, Settled);
        await using var agent = await StartAgentAsync(site, disk, compare: true, via: relay.EndPoint);
        await CatchUpAsync(site, agent, TimeSpan.FromSeconds(90));

        Assert.True(relay.Cut >= 1);
        Assert.Contains(site.Log, l => l.Contains("reconnecting", StringComparison.Ordinal));
        Assert.Single(site.Log, l => l.Contains("--compare-with-replica", StringComparison.Ordinal));
        AssertReprotectSentOnlyTheRewrittenBlocks(Assert.Single(agent.Summaries));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!events.Resyncs.Any(n => n.Completed) && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal([(ResyncReason.Reprotect, false), (ResyncReason.Reprotect, true)], events.Resyncs.Select(n => (n.Reason, n.Completed)).ToList());
        Assert.Equal(source, await LatestReplicaSha256Async(site, "after-cut.img"));
    }

    /// <summary>
    /// A loopback relay in front of the process server: a connection carries the hello and the resume, then is reset at
    /// once, so the agent's next write on it fails and nothing more reaches the process server. Connections are cut so
    /// until <c>enough</c> holds when one is accepted (the reset can also beat the resume to the agent's read); later ones pass.
    /// </summary>
    sealed class CutAfterResume : IAsyncDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly IPEndPoint _target;
        readonly CancellationTokenSource _stop = new();
        readonly List<Socket> _sockets = [];
        int _cut;

        readonly Func<bool> _enough;

        CutAfterResume(IPEndPoint target, Func<bool> enough)
        {
            _target = target;
            _enough = enough;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public static CutAfterResume Start(IPEndPoint target, Func<bool> enough) => new(target, enough);
        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;
        public int Cut => Volatile.Read(ref _cut);

        async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try { client = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception) when (_stop.IsCancellationRequested) { return; }
                _ = RelayAsync(client, !_enough());
            }
        }

        async Task RelayAsync(Socket client, bool cut)
        {
            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            lock (_sockets) _sockets.AddRange([client, server]);
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
                await Task.WhenAny(PumpAsync(client, server, false), PumpAsync(server, client, cut));
            }
            catch (Exception) { }
            foreach (var s in new[] { client, server })
            {
                try { s.LingerState = new LingerOption(true, 0); } catch (Exception) { }
                s.Dispose();
            }
        }

        /// <summary>Copies <paramref name="from"/> to <paramref name="to"/>; <paramref name="once"/>: ends the relay after the first chunk.</summary>
        async Task PumpAsync(Socket from, Socket to, bool once)
        {
            var buffer = new byte[64 << 10];
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0) return;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
                if (once)
                {
                    Interlocked.Increment(ref _cut);
                    return;
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_sockets) foreach (var s in _sockets) s.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
