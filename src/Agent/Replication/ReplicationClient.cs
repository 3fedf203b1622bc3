using System.Net;
using System.Net.Sockets;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The agent's only network peer: it connects out to the process server, offers its disks,
/// resends from what the server says is durable, streams deltas in order, and answers bookmark
/// requests and group holds (see <see cref="GroupHolds"/>) that come back over the same connection.
/// Nothing connects in to the agent. <paramref name="freezer"/> runs the application freeze of an
/// app-consistent group bookmark; without one such a bookmark yields a flagged crash-consistent point.
/// <paramref name="compareWithReplica"/> (<c>--compare-with-replica</c>): the disks were written outside this agent
/// (reprotect, failback), so the first settle of this process compares every disk whole with the replica
/// (<see cref="ResyncReason.Reprotect"/>) whatever the state file and activity log say. <paramref name="resyncCompleted"/>
/// hears of every resync that finishes. <paramref name="firstSyncHold"/> (<c>--hold-first-sync</c>, see <see cref="FirstSyncHold"/>):
/// no resync scans until it completes; a hold cancelled by the agent's stop leaves the scan owed to the next start.
/// </summary>
public sealed class ReplicationClient(
    string agentId,
    IReadOnlyList<ReplicatedExport> disks,
    EndPoint processServer,
    string stateDirectory,
    int resyncBlockSize,
    Action<string> log,
    IApplicationFreezer? freezer = null,
    bool compareWithReplica = false,
    Action<ResyncSummary>? resyncCompleted = null,
    QuiesceSetup? quiesce = null,
    Task? firstSyncHold = null,
    WriterIdentity? writer = null,
    string? processServerId = null,
    ProcessServerRoute? route = null)
{
    // Where both connections go, read at every attempt (a placement the agent follows moves it; see ProcessServerRoute).
    readonly ProcessServerRoute _route = route ?? new(new ProcessServerTarget(processServer, processServerId));

    /// <summary>Where the agent's connections go now.</summary>
    public ProcessServerRoute Route => _route;

    // Every hello of this agent is signed by the one identity of its state directory (both connections): the process
    // server binds each disk to it, and a later session of it (a higher epoch) replaces and fences an older one.
    readonly WriterIdentity _writer = writer ?? WriterIdentity.Open(stateDirectory);

    readonly Dictionary<string, ReplicatedExport> _byId = disks.ToDictionary(d => d.Name);
    readonly GroupHolds _holds = new(agentId, disks.ToDictionary(d => d.Name), freezer, log);

    /// <summary>The group holds of this agent (phase 1 and 2 of a group bookmark).</summary>
    public GroupHolds Holds => _holds;

    /// <summary>Planned failover: the source's writes stopped and drained, or allowed again.</summary>
    public FailoverStops Stops { get; } = new(disks.ToDictionary(d => d.Name), log, quiesce);
    readonly TaskCompletionSource _firstResume = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly List<Task> _resyncs = [];
    readonly PendingReplies<BlockHashReply> _hashReplies = new();
    (FrameSender Sender, CancellationToken Ct)? _connection;
    bool _started;
    // Resync notices not yet written to a connection: a connection lost right after its resume still owes them.
    readonly List<ResyncNotice> _unsentNotices = [];
    CancellationToken _running;

    /// <summary>How long a hash request waits for the path to its process server to come back before the scan sends the blocks instead.</summary>
    static readonly TimeSpan HashPathWait = TimeSpan.FromMinutes(2);

    /// <summary>Completes once the process server has answered the first time and numbering is settled.</summary>
    public Task FirstResume => _firstResume.Task;

    public int ResyncsRunning { get { lock (_resyncs) return _resyncs.Count(t => !t.IsCompleted); } }

    string StatePath(string diskId) => Path.Combine(stateDirectory, diskId + ".state.json");

    readonly Dictionary<string, SemaphoreSlim> _dirtySignals = new();

    /// <summary>
    /// Waits between attempts to reach the process server on the delta connection. Every agent of a process server loses
    /// it at the same instant when it restarts: the jitter keeps their hellos (and the resends behind them) apart.
    /// </summary>
    public static ReconnectPolicy ProcessServerReconnect { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));

    /// <summary>
    /// Waits between attempts on the control connection (<see cref="ControlConnection"/>); it may wait longer than the
    /// delta connection because group holds travel on the delta connection meanwhile.
    /// </summary>
    public static ReconnectPolicy ControlReconnect { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));

    public async Task RunAsync(CancellationToken ct)
    {
        _running = ct;
        var passes = disks.Select(d => DirtyPassLoopAsync(d, ct)).ToList();
        passes.Add(new ControlConnection(agentId, _route, Holds, RequestResync, Stops, log, _writer, ProcessServerTls).RunAsync(_firstResume.Task, ct));
        await ProcessServerReconnect.RunAsync(RunConnectionAsync, ReconnectPolicy.IsConnectionLoss, (e, wait) =>
        {
            log($"process server {_route.Current}: {e.Message}; reconnecting in {wait.TotalMilliseconds:0} ms");
            _route.ReportLost();
        }, ct).ConfigureAwait(false);
        try { await Task.WhenAll(passes).ConfigureAwait(false); } catch (OperationCanceledException) { }
    }

    /// <summary>
    /// Per disk: when writes overflowed into the dirty map, sends those regions again from the source
    /// and tells the target a resync (reason BufferOverflow) started and completed. Until it completes
    /// the replica is not crash-consistent, so bookmarks on the disk are refused meanwhile.
    /// </summary>
    async Task DirtyPassLoopAsync(ReplicatedExport d, CancellationToken ct)
    {
        var signal = new SemaphoreSlim(0);
        lock (_dirtySignals) _dirtySignals[d.Name] = signal;
        d.Overflowed += () => { if (signal.CurrentCount == 0) signal.Release(); };
        while (!ct.IsCancellationRequested)
        {
            try { await signal.WaitAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            if (d.Dirty.Count == 0) continue;
            var startedAt = d.Stream.LastSequence;
            log($"disk {d.Name}: buffer full, {d.Dirty.Count} regions tracked; resending them from the source");
            await TrySendNoticeAsync(new ResyncNotice(d.Name, ResyncReason.BufferOverflow, false, startedAt)).ConfigureAwait(false);
            long sent;
            try { sent = await d.DrainDirtyAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            if (d.Dirty.Count > 0) { if (signal.CurrentCount == 0) signal.Release(); continue; }
            log($"disk {d.Name}: dirty regions resent ({sent} blocks), complete at #{d.Stream.LastSequence}");
            await TrySendNoticeAsync(new ResyncNotice(d.Name, ResyncReason.BufferOverflow, true, d.Stream.LastSequence)).ConfigureAwait(false);
        }
    }

    async Task SendUnsentNoticesAsync(FrameSender sender, CancellationToken ct)
    {
        while (true)
        {
            ResyncNotice next;
            lock (_unsentNotices)
            {
                if (_unsentNotices.Count == 0) return;
                next = _unsentNotices[0];
            }
            await sender.SendAsync(next, ct).ConfigureAwait(false);
            lock (_unsentNotices) _unsentNotices.Remove(next);
        }
    }

    async Task TrySendNoticeAsync(ControlMessage m)
    {
        if (_connection is not { } c) return;
        try { await c.Sender.SendAsync(m, c.Ct).ConfigureAwait(false); }
        catch (Exception e) when (IsConnectionGone(e)) { }
    }

    /// <summary>
    /// Whom the agent's connections must reach: a process server of the site, and the one named by
    /// <c>--process-server-id</c> when it is pinned (another of the site's process servers behind the address is refused).
    /// </summary>
    internal ExpectedPeer ProcessServerPeer => new(SiteRecovery.Contracts.Control.ComponentKind.ProcessServer, _route.Current.Id);

    /// <summary>
    /// The TLS of the agent's connections. A pinned process server is never spoken to in plain: without a certificate (the
    /// agent's registration undone by hand) the connection is not made, and the loop says why at every try.
    /// </summary>
    internal HopClientTls? ProcessServerTls()
    {
        var peer = ProcessServerPeer;
        var tls = HopClientTls.Of(_writer, peer);
        if (peer.Id is { } pinned && tls?.Own.HasCertificate != true)
            throw new IOException($"the process server is pinned ({pinned}) but the agent holds no certificate to check it with: register the agent (sragent register)");
        return tls;
    }

    async Task RunConnectionAsync(Action connected, CancellationToken outer)
    {
        // A placement that moves the disks ends this connection (the old process server may stay up); the reconnect loop
        // then connects to the new one, whose resume settles each disk as after any reconnect.
        var (target, moved) = (_route.Current, _route.Moved);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(outer, moved);
        try { await RunConnectionAsync(target, connected, session.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (moved.IsCancellationRequested && !outer.IsCancellationRequested)
        {
            throw new IOException($"the placement moved the disks from process server {target} to {_route.Current}");
        }
    }

    async Task RunConnectionAsync(ProcessServerTarget target, Action connected, CancellationToken outer)
    {
        var processServer = target.Address;
        await using var hop = await HopConnector.ConnectAsync(processServer, ProcessServerTls(), "process server", outer).ConfigureAwait(false);
        var net = hop.Stream;
        var send = new BufferedStream(net, 1 << 20);
        var sender = new FrameSender(send);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var ct = cts.Token;

        var hello = new Hello(agentId, disks.Select(d => new DiskOffer(d.Name, d.Size, agentId)).ToList());
        var resume = await SessionHandshake.OpenAsync(send, net, hello, "process server", ct, _writer).ConfigureAwait(false);
        connected();

        _connection = (sender, ct);
        foreach (var d in disks)
        {
            var durable = resume.DurableThrough.TryGetValue(d.Name, out var v) ? v : 0;
            var reason = Settle(d, durable, out var rangeOpened);
            if (reason is { } r)
            {
                lock (_unsentNotices) _unsentNotices.Add(new ResyncNotice(d.Name, r, false, durable));
                StartResync(d, r, rangeOpened);
            }
        }
        // Settled once and for all, before anything more goes on the wire: a connection lost from here on is followed by
        // one that resends from its resume point. Settling again would renumber streams that hold this settle's begin
        // markers (it threw, and the reconnect loop ended without a word: an agent that never served its disks).
        _started = true;
        _firstResume.TrySetResult();
        await SendUnsentNoticesAsync(sender, ct).ConfigureAwait(false);
        log($"connected to process server {target}: " + string.Join(", ", disks.Select(d => $"{d.Name} from #{d.Stream.AckedThrough + 1}")));

        try
        {
            var sending = SendLoopAsync(sender, ct);
            var receiver = ReceiveLoopAsync(net, sender, ct);
            var done = await Task.WhenAny(sending, receiver).ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            try { await Task.WhenAll(sending, receiver).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            await done.ConfigureAwait(false);
        }
        finally
        {
            // The coordinator can no longer reach this agent: its commit would never arrive.
            Holds.ReleaseAll("connection to the process server lost");
        }
    }

    /// <summary>Decides, per disk, where numbering continues and whether a resync is needed.</summary>
    ResyncReason? Settle(ReplicatedExport d, long durable, out bool rangeOpened)
    {
        rangeOpened = false;
        if (!_started && CaptureEnds(d, durable))
        {
            rangeOpened = true;
            return ResyncReason.Reprotect;
        }
        if (_started)
        {
            rangeOpened = true;
            if (d.Stream.ResendFrom(durable)) return null;
            // The server lost deltas the agent already dropped: only a resync can close the gap.
            d.WriteLock.Wait();
            // One critical section: no write may be numbered between the renumbering and the begin marker.
            try { d.Stream.ResetAfter(durable); d.StreamRenumbered(); d.Activity?.MarkFullScanOwed(); d.ScanStarted(ResyncReason.StreamGap); }
            finally { d.WriteLock.Release(); }
            return ResyncReason.StreamGap;
        }
        if (compareWithReplica)
        {
            // The disk was written by someone else: neither the state file nor the activity log knows what. The compare
            // is owed in full until it finishes: the state stays dirty and the log says a full scan is owed (both
            // written before any I/O is served), so a crash, or a stop before the compare is done (DrainAndMarkClean
            // leaves the state dirty while a scan is open), leads to a whole-disk compare at the next start, flag or not.
            // Later reconnects of this process do not start it again: the running scan is not tied to a connection.
            new AgentStateFile(durable, Clean: false).Save(StatePath(d.Name));
            d.Stream.StartAfter(durable);
            d.Activity?.Reset([], fullScanOwed: true);
            log($"disk {d.Name}: --compare-with-replica: the whole disk is compared with the replica (durable #{durable})");
            return ResyncReason.Reprotect;
        }
        AgentStateFile? state;
        try { state = AgentStateFile.Load(StatePath(d.Name)); }
        catch (DurableFileUnreadableException e)
        {
            // Nothing says the last shutdown was clean: resync, as after a crash.
            log($"disk {d.Name}: {e.Message}");
            state = new AgentStateFile(0, Clean: false);
        }
        new AgentStateFile(durable, Clean: false).Save(StatePath(d.Name));
        d.Stream.StartAfter(durable);
        if (state is { Clean: true } && state.LastSequence == durable)
        {
            d.Activity?.Reset([], fullScanOwed: false);
            return null;
        }
        if (durable == 0 && (state is null || state.LastSequence == 0))
        {
            d.Activity?.Reset([], fullScanOwed: true);
            return ResyncReason.InitialReplication;
        }
        // A crash: what the activity log holds is all that can differ, if the log is there and no full scan was owed.
        if (d.Activity is null) log($"disk {d.Name}: no activity log (off); the whole disk is compared");
        else if (d.RecoveredActivity is not { } recovered) log($"disk {d.Name}: activity log unusable ({d.ActivityProblem}); the whole disk is compared");
        else if (recovered.FullScanOwed) log($"disk {d.Name}: a full resync was still owed when the agent stopped; the whole disk is compared");
        else
        {
            d.Activity.Reset(recovered.Extents, fullScanOwed: false);
            _activityExtents[d.Name] = recovered.Extents;
            return ResyncReason.AgentCrashActivityLog;
        }
        d.Activity?.Reset([], fullScanOwed: true);
        return ResyncReason.AgentRestartedWithoutTracking;
    }

    /// <summary>
    /// The first process server of a capturing agent (<see cref="ProcessServerFile"/>) settles a disk that serves I/O
    /// already: in one critical section numbering starts after <paramref name="durable"/>, the whole compare is owed
    /// (state dirty, full scan in the log) and its range opens, so no write is numbered before the begin marker and every
    /// write before it is on the disk the compare reads. False for a disk that is not capturing.
    /// </summary>
    bool CaptureEnds(ReplicatedExport d, long durable)
    {
        d.WriteLock.Wait();
        try
        {
            if (!d.Capturing) return false;
            var extents = d.Activity?.Count;
            new AgentStateFile(durable, Clean: false).Save(StatePath(d.Name));
            d.Stream.StartAfter(durable);
            d.Activity?.Reset([], fullScanOwed: true);
            d.EndCapture();
            d.ScanStarted(ResyncReason.Reprotect);
            log($"disk {d.Name}: captured {d.CapturedBytes} bytes of writes" + (extents is { } n ? $" in {n} extent(s) of the activity log" : "") +
                $" while no process server was known; the whole disk is compared with the replica (durable #{durable})");
            return true;
        }
        finally { d.WriteLock.Release(); }
    }

    // Per disk, the extents a crash-recovery resync compares (from the activity log), until that resync starts.
    readonly Dictionary<string, IReadOnlyList<long>> _activityExtents = new();

    /// <summary>
    /// Asks (through the process server) for the replica's block hashes as of <paramref name="afterSequence"/>. A path
    /// that goes down (a dropped connection, a node restarting) comes back through the reconnect loop, and the hashes are
    /// asked again on the next connection, for up to <see cref="HashPathWait"/>: sending every block of the batch instead
    /// would be correct, but would move what the replica already holds (a compare interrupted by a node's restart moved
    /// whole batches, or failed outright on the closed stream). Null when the target could not answer or the path stayed
    /// down: the caller then sends the blocks.
    /// </summary>
    async Task<IReadOnlyList<ulong>?> RequestHashesAsync(string diskId, long afterSequence, int blockSize, long offset, int count)
    {
        var giveUp = DateTime.UtcNow + HashPathWait;
        FrameSender? tried = null;
        while (!_running.IsCancellationRequested)
        {
            if (_connection is { } c && c.Sender != tried)
            {
                tried = c.Sender;
                var req = new BlockHashRequest(Guid.NewGuid().ToString("n"), diskId, afterSequence, blockSize, offset, count);
                using var answer = _hashReplies.Expect(req.RequestId);
                try
                {
                    await c.Sender.SendAsync(req, c.Ct).ConfigureAwait(false);
                    var reply = await answer.Reply.WaitAsync(TimeSpan.FromMinutes(2), c.Ct).ConfigureAwait(false);
                    if (reply.Error is not null) log($"disk {diskId}: replica hashes unavailable ({reply.Error}); sending blocks");
                    return reply.Error is null && reply.Hashes.Count > 0 ? reply.Hashes : null;
                }
                catch (TimeoutException) { return null; }
                catch (Exception e) when (IsConnectionGone(e)) { } // that connection ended: ask again on the next
            }
            if (DateTime.UtcNow > giveUp) return null;
            try { await Task.Delay(100, _running).ConfigureAwait(false); }
            catch (OperationCanceledException) { return null; }
        }
        return null;
    }

    /// <summary>
    /// What a send or a wait on a connection that has ended throws: its socket reset or closed, its stream disposed (a
    /// buffered stream over a disposed one says it does not support writing), or its session cancelled.
    /// </summary>
    static bool IsConnectionGone(Exception e) => e is IOException or ObjectDisposedException or NotSupportedException or OperationCanceledException;

    void StartResync(ReplicatedExport d, ResyncReason reason, bool rangeOpened = false)
    {
        var after = d.Stream.AckedThrough;
        IReadOnlyList<(long Offset, long Length)>? ranges = null;
        if (reason == ResyncReason.AgentCrashActivityLog && _activityExtents.Remove(d.Name, out var extents))
            ranges = ResyncScanner.RangesOf(extents, d.Activity!.ExtentBytes, d.Size);
        var scanner = new ResyncScanner(d, resyncBlockSize,
            reason == ResyncReason.InitialReplication ? null : (offset, count) => RequestHashesAsync(d.Name, after, resyncBlockSize, offset, count), ranges);
        // The range opens before this returns, so before the export serves I/O (or, on a reconnect, before any write
        // after the gap is numbered): no write the replica lacks can precede the begin marker.
        if (!rangeOpened)
        {
            d.WriteLock.Wait();
            try { d.ScanStarted(reason); }
            finally { d.WriteLock.Release(); }
        }
        var task = Task.Run(async () =>
        {
            // Held, the range stays open and writes keep arriving after its begin marker: the scan, once it runs, covers them.
            if (firstSyncHold is { IsCompleted: false } hold)
            {
                try { await hold.ConfigureAwait(false); }
                catch (OperationCanceledException)
                {
                    log($"disk {d.Name}: resync ({reason}) not started: the agent stopped while its first sync was held; the next start compares again");
                    return;
                }
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            log($"disk {d.Name}: resync started ({reason})" + (ranges is null ? "" : $": {ranges.Count} ranges, {ranges.Sum(r => r.Length) >> 20} MiB from the activity log"));
            try { await scanner.RunAsync(reason, null, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e)
            {
                // The range stays open: no point on this disk until a later resync (after a restart) completes.
                log($"disk {d.Name}: resync ({reason}) failed: {e.Message}; no recovery point until the agent is restarted");
                return;
            }
            await d.WriteLock.WaitAsync().ConfigureAwait(false);
            try
            {
                d.Activity?.ResyncFinished(d.Stream.LastSequence, fullScan: ranges is null);
                d.ScanFinished(reason);
            }
            finally { d.WriteLock.Release(); }
            var last = d.Stream.LastSequence;
            var summary = new ResyncSummary(d.Name, reason, scanner.BytesScanned, scanner.BytesSent, scanner.BlocksSent, scanner.BlocksSkippedEqual, d.Size, clock.Elapsed.TotalSeconds);
            log($"disk {d.Name}: resync scanned {summary.BytesScanned >> 20} MiB, sent {summary.BytesSent >> 20} MiB in {summary.BlocksSent} blocks, " +
                $"{summary.BlocksEqual} blocks equal at the replica, complete at #{last} ({reason}, {summary.Seconds:0.0} s)");
            try { resyncCompleted?.Invoke(summary); }
            catch (Exception e) { log($"disk {d.Name}: resync summary not delivered: {e.Message}"); }
            // On the connection of the moment (the one the scan started on may be gone). Lost with it, completion is still
            // implied by the stream's end marker.
            await TrySendNoticeAsync(new ResyncNotice(d.Name, reason, true, last)).ConfigureAwait(false);
        }, CancellationToken.None);
        lock (_resyncs) _resyncs.Add(task);
    }

    async Task SendLoopAsync(FrameSender sender, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var sentAny = false;
            foreach (var d in disks)
            {
                var batch = d.Stream.TakeUnsent(1 << 20);
                if (batch.Count == 0) continue;
                sentAny = true;
                await sender.SendBatchAsync(async (send, token) =>
                {
                    foreach (var delta in batch) await FrameIo.WriteDeltaAsync(send, delta, token).ConfigureAwait(false);
                }, ct).ConfigureAwait(false);
            }
            if (!sentAny)
            {
                var waits = disks.Select(d => d.Stream.Changed).ToList();
                if (disks.Any(d => d.Stream.HasUnsent)) continue;
                await Task.WhenAny(waits).WaitAsync(ct).ConfigureAwait(false);
            }
        }
    }

    async Task ReceiveLoopAsync(Stream net, FrameSender sender, CancellationToken ct)
    {
        while (true)
        {
            var frame = await FrameIo.ReadAsync(net, ct).ConfigureAwait(false)
                        ?? throw new IOException("process server closed the connection");
            if (frame.Type != FrameType.Control) throw new InvalidDataException("process server sent a delta frame to the agent");
            switch (ControlMessage.Parse(frame.Body))
            {
                case Ack ack when _byId.TryGetValue(ack.DiskId, out var d):
                    d.Stream.Acknowledge(ack.DurableThrough);
                    break;
                case Nak nak when _byId.TryGetValue(nak.DiskId, out var d):
                    log($"disk {nak.DiskId}: process server asks to resend from #{nak.ResendFrom}: {nak.Reason}");
                    if (!d.Stream.Rewind(nak.ResendFrom - 1))
                        throw new InvalidDataException($"disk {nak.DiskId}: cannot resend from #{nak.ResendFrom}: no longer buffered");
                    break;
                case BlockHashReply reply:
                    _hashReplies.Complete(reply.RequestId, reply);
                    break;
                case BookmarkRequest req:
                    var answer = InsertBookmark(req);
                    await sender.SendAsync(answer, ct).ConfigureAwait(false);
                    break;
                case HoldRequest hold:
                    // Off the receive loop: the freeze may take seconds, and the loop must stay free for acks and the commit.
                    _ = Task.Run(async () =>
                    {
                        var held = await Holds.HoldAsync(hold).ConfigureAwait(false);
                        try { await sender.SendAsync(held, ct).ConfigureAwait(false); }
                        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
                        {
                            Holds.Abort(new AbortHold("", hold.HoldId, "held reply not delivered", hold.DiskIds));
                        }
                    }, CancellationToken.None);
                    break;
                case CommitHold commit:
                    await sender.SendAsync(Holds.Commit(commit), ct).ConfigureAwait(false);
                    break;
                case ResyncRequest request:
                    await sender.SendAsync(RequestResync(request), ct).ConfigureAwait(false);
                    break;
                case AbortHold abort:
                    await sender.SendAsync(Holds.Abort(abort), ct).ConfigureAwait(false);
                    break;
                case StopForFailover stop:
                    // Off the receive loop: the drain waits for acknowledgements that this loop receives.
                    _ = AnswerAsync(() => Stops.StopAsync(stop, ct), sender, ct);
                    break;
                case ResumeAfterFailover resume:
                    _ = AnswerAsync(() => Stops.ResumeAsync(resume, ct), sender, ct);
                    break;
                case var other:
                    log($"ignoring unexpected control message {other.GetType().Name}");
                    break;
            }
        }
    }

    static Task AnswerAsync<T>(Func<Task<T>> answer, FrameSender sender, CancellationToken ct) where T : ControlMessage =>
        Task.Run(async () =>
        {
            try { await sender.SendAsync(await answer().ConfigureAwait(false), ct).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException) { /* the asker times out and asks again */ }
        }, CancellationToken.None);

    /// <summary>
    /// An operator's resync (<see cref="ResyncReason.OperatorRequest"/>): each listed disk is compared whole with the
    /// replica and what differs is resent. Refused for a disk that is already resyncing, or while not connected.
    /// </summary>
    public ResyncStarted RequestResync(ResyncRequest req)
    {
        var missing = req.DiskIds.Where(id => !_byId.ContainsKey(id)).ToList();
        if (missing.Count > 0) return new ResyncStarted(req.RequestId, new Dictionary<string, long>(), $"unknown disk(s): {string.Join(", ", missing)}");
        if (_connection is not { } c) return new ResyncStarted(req.RequestId, new Dictionary<string, long>(), "the agent is not connected to its process server");
        var targets = req.DiskIds.Distinct().OrderBy(id => id, StringComparer.Ordinal).Select(id => _byId[id]).ToList();
        var after = new Dictionary<string, long>();
        foreach (var d in targets)
        {
            d.WriteLock.Wait();
            try
            {
                if (d.NotCrashConsistent() is { } busy) return new ResyncStarted(req.RequestId, after, $"{busy}; ask again when it is done");
                d.Activity?.MarkFullScanOwed();
                after[d.Name] = d.Stream.LastSequence;
            }
            finally { d.WriteLock.Release(); }
            log($"disk {d.Name}: resync asked by an operator: {req.Why}");
            StartResync(d, ResyncReason.OperatorRequest);
            _ = TrySendNoticeAsync(new ResyncNotice(d.Name, ResyncReason.OperatorRequest, false, after[d.Name]));
        }
        return new ResyncStarted(req.RequestId, after, null);
    }

    /// <summary>
    /// Inserts the marker into every listed disk while holding all their write locks (taken in
    /// disk-id order, the agent's one lock order), so the marker is a consistent cut across them:
    /// it follows every write already replied to and precedes every write not yet applied.
    /// </summary>
    public BookmarkInserted InsertBookmark(BookmarkRequest req)
    {
        var missing = req.DiskIds.Where(id => !_byId.ContainsKey(id)).ToList();
        if (missing.Count > 0)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), $"unknown disk(s): {string.Join(", ", missing)}");
        if (ResyncMarker.ReservedNameError(req.BookmarkId) is { } reserved)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), reserved);
        if (!Holds.TryEnterSingle())
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), $"{RetryableRefusal.LegacyPrefix}: a group bookmark holds this agent's disks; retry", Retryable: true);
        var targets = req.DiskIds.Distinct().OrderBy(id => id, StringComparer.Ordinal).Select(id => _byId[id]).ToList();
        foreach (var t in targets) t.WriteLock.Wait();
        try
        {
            var why = targets.Select(t => t.NotCrashConsistent()).OfType<string>().ToList();
            if (why.Count > 0)
                return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(),
                    $"{RetryableRefusal.LegacyPrefix}: {string.Join("; ", why)}; retry when the resync completes", Retryable: true);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var seqs = new Dictionary<string, long>();
            foreach (var t in targets)
                seqs[t.Name] = t.Stream.Append(DeltaKind.Bookmark, 0, 0, System.Text.Encoding.UTF8.GetBytes(req.BookmarkId)).Sequence;
            return new BookmarkInserted(req.RequestId, req.BookmarkId, seqs, null);
        }
        finally
        {
            foreach (var t in targets) t.WriteLock.Release();
            Holds.ExitSingle();
        }
    }

    /// <summary>Waits (bounded) until every delta is acknowledged, then records a clean state per disk.</summary>
    public async Task<bool> DrainAndMarkCleanAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && (ResyncsRunning > 0 || disks.Any(d => d.Stream.UnackedCount > 0 || d.Dirty.Count > 0)))
            await Task.Delay(50).ConfigureAwait(false);
        // Clean means nothing is owed to the target: no unacknowledged delta, no dirty region, and no resync left open (one
        // that failed never finished its scan: a clean state would make the next start skip the compare it still owes).
        var clean = ResyncsRunning == 0 && disks.All(d => d.Stream.UnackedCount == 0 && d.Dirty.Count == 0 && !d.ScanRunning);
        if (clean)
            foreach (var d in disks) new AgentStateFile(d.Stream.LastSequence, Clean: true).Save(StatePath(d.Name));
        return clean;
    }
}
