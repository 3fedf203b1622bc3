using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Resync;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>Settings of the master target's data path.</summary>
public sealed record MasterTargetOptions(string ServerId, IPEndPoint Listen, string DataDirectory)
{
    /// <summary>Commit (fsync and acknowledge) at least every this many bytes even while data keeps arriving.</summary>
    public int CommitBytes { get; init; } = 8 << 20;
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest time the replica goes without an fsync; the journal is fsync'd at every commit.</summary>
    public TimeSpan ReplicaFlushInterval { get; init; } = TimeSpan.FromSeconds(1);
    public SegmentLogOptions Journal { get; init; } = new();
    /// <summary>
    /// Called at each commit with the disk and, per delta made durable, the milliseconds since the agent
    /// numbered it (its acknowledgement to the NBD client): the replication lag. For benchmarks and RPO views.
    /// </summary>
    public Action<string, IReadOnlyList<long>>? LagObserver { get; init; }
    /// <summary>
    /// How often a crash-consistent recovery point is taken automatically for each machine whose disks
    /// changed since its last point (one bookmark across all of the machine's disks); null turns it off.
    /// </summary>
    public TimeSpan? AutoRecoveryPointInterval { get; init; }
    /// <summary>Retention window and checkpoint interval of every disk's journal.</summary>
    public RetentionOptions Retention { get; init; } = new();
    /// <summary>How often each disk's retention is maintained (checkpoint when due, roll the base, trim the journal).</summary>
    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>The master target's clock (Unix ms): receive times, the retention window and time resolution go by it; null = the system clock.</summary>
    public Func<long>? Clock { get; init; }
    /// <summary>
    /// Raise the clock-skew alert of a disk when its agent's stamps are off the master target's clock by more than this
    /// (see <see cref="AgentClockSkew"/>), clear it when back within; null turns the check off.
    /// </summary>
    public TimeSpan? ClockSkewAlert { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>The commits the skew is estimated over (checked at each retention pass); null: six retention passes (1 min by default).</summary>
    public TimeSpan? ClockSkewPeriod { get; init; }
}

/// <summary>
/// The master target's end of the data path: process servers connect to it (one connection per disk),
/// it verifies each delta's checksum, appends it to the disk's retention journal, applies it to the
/// replica and acknowledges only after both are durable. Bookmark requests for agents travel back
/// over these connections, because the master target cannot connect to anything on premises.
/// </summary>
public sealed class MasterTargetServer : IAsyncDisposable, SiteRecovery.Actors.Consistency.IGroupBookmarkPath
{
    readonly MasterTargetOptions _options;
    readonly IReplicaStoreFactory _stores;
    readonly IDataPathEvents _events;
    readonly Action<string> _log;
    readonly DeltaCompression _compression = new();
    readonly ConcurrentDictionary<string, Lazy<Task<ReplicaDisk>>> _disks = new();
    readonly ConcurrentDictionary<string, Session> _sessionByDisk = new();
    readonly ConcurrentDictionary<string, TaskCompletionSource<BookmarkInserted>> _pendingBookmarks = new();
    readonly ConcurrentDictionary<string, TaskCompletionSource<ControlMessage>> _pendingAgentReplies = new();
    readonly ConcurrentDictionary<(string Disk, string Bookmark), TaskCompletionSource<long>> _groupMarkers = new();
    // A process server's control-only connection (a hello with no disks), and which process server carries each disk.
    readonly ConcurrentDictionary<string, AcceptedControl> _controlByServer = new();
    readonly ConcurrentDictionary<string, string> _serverByDisk = new();
    readonly CancellationTokenSource _stop = new();
    readonly ConcurrentDictionary<string, string> _machineByDisk = new();
    readonly ConcurrentDictionary<string, long> _lastAutoPoint = new();
    // Per machine, the resync that last made the automatic points skip it (logged once per resync, not every round).
    readonly ConcurrentDictionary<string, string> _autoSkipLogged = new();
    Socket? _listener;
    Task? _acceptLoop;
    Task? _autoPoints;
    Task? _retention;
    readonly Dictionary<string, long> _windowTold = new();
    readonly Dictionary<string, bool> _skewTold = new();
    long Now() => _options.Clock is { } clock ? clock() : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    volatile IReadOnlyDictionary<string, TimeSpan> _groupWindows = new Dictionary<string, TimeSpan>();

    /// <summary>
    /// The retention window per machine, from the machine's protection group; a machine in no group keeps the
    /// configured window. Applied at the next retention pass.
    /// </summary>
    public void SetRetentionWindows(IReadOnlyDictionary<string, TimeSpan> byMachine) => _groupWindows = byMachine;

    public MasterTargetServer(MasterTargetOptions options, IReplicaStoreFactory stores, IDataPathEvents events, Action<string> log)
    {
        _options = options;
        _stores = stores;
        _events = events;
        _log = log;
    }

    public IPEndPoint? BoundEndpoint => _listener?.LocalEndPoint as IPEndPoint;

    public Task StartAsync()
    {
        _listener = new Socket(_options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            _listener.Bind(_options.Listen);
        }
        catch (SocketException e)
        {
            throw new IOException($"master target: cannot listen on {_options.Listen}: {e.Message}", e);
        }
        _listener.Listen(64);
        _acceptLoop = AcceptLoopAsync(_stop.Token);
        if (_options.AutoRecoveryPointInterval is { } every) _autoPoints = AutoRecoveryPointsAsync(every, _stop.Token);
        _retention = RetentionLoopAsync(_options.RetentionCheckInterval, _stop.Token);
        return Task.CompletedTask;
    }

    async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener!.AcceptAsync(ct).ConfigureAwait(false); }
            catch (Exception) when (ct.IsCancellationRequested) { return; }
            catch (SocketException e) { _log($"master target: accept failed: {e.Message}"); continue; }
            s.NoDelay = true;
            _ = Task.Run(() => new Session(this, s).RunAsync(ct), CancellationToken.None);
        }
    }

    string DiskDirectory(string diskId) => Path.Combine(_options.DataDirectory, "disks", diskId);

    static void CheckDiskId(string diskId)
    {
        if (string.IsNullOrWhiteSpace(diskId) || diskId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || diskId is "." or "..")
            throw new InvalidDataException($"disk id '{diskId}' is not a valid name");
    }

    Task<ReplicaDisk> OpenDiskAsync(string diskId, long size)
    {
        CheckDiskId(diskId);
        Lazy<Task<ReplicaDisk>> Open() => _disks.GetOrAdd(diskId, id => new Lazy<Task<ReplicaDisk>>(() =>
            ReplicaDisk.OpenAsync(DiskDirectory(id), id, size, _stores, _compression, _options.Journal, _options.ReplicaFlushInterval, _stop.Token, _options.Retention, _log, _options.Clock)));
        var lazy = Open();
        if (lazy.Value.IsFaulted)
        {
            // A failed open (a damaged disk.json, a size mismatch) is tried again at the next offer, once the operator has acted.
            _disks.TryRemove(KeyValuePair.Create(diskId, lazy));
            lazy = Open();
        }
        return lazy.Value;
    }

    /// <summary>The disks this master target holds (opened since start).</summary>
    public IReadOnlyDictionary<string, (long AppliedThrough, long Size)> Disks =>
        _disks.Where(kv => kv.Value.IsValueCreated && kv.Value.Value.IsCompletedSuccessfully)
              .ToDictionary(kv => kv.Key, kv => (kv.Value.Value.Result.DurableThrough, kv.Value.Value.Result.Size));

    /// <summary>
    /// Asks the agent that owns <paramref name="diskIds"/> (all of one agent) to insert a bookmark, then
    /// waits until the marker is durable here on every disk. Returns the marker's sequence per disk.
    /// </summary>
    public async Task<BookmarkInserted> BookmarkAsync(string bookmarkId, IReadOnlyList<string> diskIds, TimeSpan timeout, CancellationToken ct)
    {
        // A disk that is resending overflowed regions has no consistent point yet: retry until it has,
        // within the caller's timeout.
        // Past the deadline the caller gets the last refusal (naming the resync and its progress), not a bare timeout.
        var deadline = DateTime.UtcNow + timeout;
        BookmarkInserted? refused = null;
        while (true)
        {
            BookmarkInserted result;
            try { result = await BookmarkOnceAsync(bookmarkId, diskIds, deadline - DateTime.UtcNow, ct).ConfigureAwait(false); }
            catch (TimeoutException) when (refused is not null) { return refused; }
            if (result.Error is null || !RetryableRefusal.Is(result.Retryable, result.Error)) return result;
            refused = result with { Retryable = true };
            if (DateTime.UtcNow + TimeSpan.FromMilliseconds(100) >= deadline) return refused;
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    async Task<BookmarkInserted> BookmarkOnceAsync(string bookmarkId, IReadOnlyList<string> diskIds, TimeSpan timeout, CancellationToken ct)
    {
        if (timeout <= TimeSpan.Zero) timeout = TimeSpan.FromMilliseconds(1);
        if (diskIds.Count == 0) throw new ArgumentException("a bookmark needs at least one disk");
        var missing = diskIds.Where(d => !_sessionByDisk.ContainsKey(d)).ToList();
        if (missing.Count > 0) throw new InvalidOperationException($"no process server is connected for disk(s) {string.Join(", ", missing)}");
        var session = _sessionByDisk[diskIds[0]];
        var request = new BookmarkRequest(Guid.NewGuid().ToString("n"), bookmarkId, diskIds);
        var tcs = new TaskCompletionSource<BookmarkInserted>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingBookmarks[request.RequestId] = tcs;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await session.SendAsync(request, cts.Token).ConfigureAwait(false);
            var inserted = await tcs.Task.WaitAsync(cts.Token).ConfigureAwait(false);
            if (inserted.Error is not null) return inserted;
            foreach (var (disk, seq) in inserted.Sequences)
            {
                var d = await _disks[disk].Value.ConfigureAwait(false);
                while (d.DurableThrough < seq) await Task.Delay(5, cts.Token).ConfigureAwait(false);
                // The marker is durable, so every resync marker before it has been seen: the ranges are exact here.
                if (d.InsideResync(seq) is { } refusal)
                {
                    return inserted with { Sequences = new Dictionary<string, long>(), Error = refusal.Message, Retryable = refusal.Retryable };
                }
            }
            return inserted;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"bookmark {bookmarkId} on {string.Join(", ", diskIds)} did not complete within {timeout.TotalSeconds:0.#} s");
        }
        finally { _pendingBookmarks.TryRemove(request.RequestId, out _); }
    }

    /// <summary>Disks with a live process-server connection, by the machine (agent) they belong to.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> DisksByMachine =>
        _sessionByDisk.Keys.Where(_machineByDisk.ContainsKey).GroupBy(d => _machineByDisk[d])
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.OrderBy(d => d, StringComparer.Ordinal).ToList());

    /// <summary>
    /// Sends a group-hold request to the agent that owns its disks (through the process server carrying the
    /// first of them) and returns the answer, or the request's failure reply when there is no path or no
    /// answer within <paramref name="timeout"/>.
    /// </summary>
    public async Task<ControlMessage> AskAgentAsync(IAgentRequest request, TimeSpan timeout, CancellationToken ct)
    {
        var first = request.DiskIds.Order(StringComparer.Ordinal).FirstOrDefault();
        if (first is null || !_sessionByDisk.TryGetValue(first, out var session))
            return request.Failed($"no process server is connected for disk {first ?? "(none)"}");
        // The control connection when there is one: on the disk's own connection the answer would queue behind deltas.
        var control = _serverByDisk.TryGetValue(first, out var server) && _controlByServer.TryGetValue(server, out var c) ? c : null;
        // Completed by the control connection's own thread, which then runs the coordinator's next step (no thread-pool turn).
        var tcs = new TaskCompletionSource<ControlMessage>();
        _pendingAgentReplies[request.RequestId] = tcs;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            if (control is not null) control.Send((ControlMessage)request);
            else await session.SendAsync((ControlMessage)request, cts.Token).ConfigureAwait(false);
            return await tcs.Task.WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return request.Failed($"no answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return request.Failed($"process server connection failed: {e.Message}");
        }
        finally { _pendingAgentReplies.TryRemove(request.RequestId, out _); }
    }

    /// <summary>The process server that carries <paramref name="diskId"/> here (its id from the hello), or null.</summary>
    public string? ProcessServerOf(string diskId) => _serverByDisk.TryGetValue(diskId, out var s) ? s : null;

    /// <summary>
    /// Completes with the marker's sequence once the group marker of <paramref name="bookmarkId"/> is durable on
    /// <paramref name="diskId"/>. Register before the commit is sent: a group marker nobody waits for is not a point.
    /// </summary>
    public Task<long> GroupMarkerDurableAsync(string diskId, string bookmarkId)
        => _groupMarkers.GetOrAdd((diskId, bookmarkId), _ => new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>
    /// Stops waiting for the group markers of <paramref name="bookmarkId"/> on <paramref name="diskIds"/>, then records
    /// the single-machine points held back on those disks meanwhile. The coordinator calls it after recording its own
    /// points, so these reach each disk after the group's point, in sequence order.
    /// </summary>
    public void ForgetGroupMarkers(string bookmarkId, IEnumerable<string> diskIds)
    {
        List<(string Disk, Delta Marker)> release;
        lock (_heldBackPoints)
        {
            foreach (var d in diskIds) _groupMarkers.TryRemove((d, bookmarkId), out _);
            release = _heldBackPoints.Where(p => !_groupMarkers.Keys.Any(k => k.Disk == p.Disk)).ToList();
            _heldBackPoints.RemoveAll(p => !_groupMarkers.Keys.Any(k => k.Disk == p.Disk));
        }
        foreach (var (disk, m) in release) _events.RecoveryPointDurable(disk, m.BookmarkId, m.Sequence, m.TimeUnixMs);
    }

    // Single-machine points durable on a disk after a group's marker there, while the group still waits for its other
    // markers. A single bookmark already on its way when the group's holds went out can land right after the group's
    // marker; recorded at once, it would reach the disk before the group's point (recorded only when every disk's
    // marker is durable), and the disk's points would arrive out of sequence order (the disk files them in order, but the
    // events a portal streams would not be). A point whose marker comes before the group's is recorded at once.
    readonly List<(string Disk, Delta Marker)> _heldBackPoints = [];

    internal void MarkerDurable(string diskId, Delta marker)
    {
        var text = marker.BookmarkId;
        if (ResyncMarker.TryParse(text, out _, out _)) return; // bounds a resync (ReplicaDisk keeps it); never a point
        if (_disks.TryGetValue(diskId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully
            && lazy.Value.Result.InsideResync(marker.Sequence) is { } refusal)
        {
            if (GroupMarker.TryParse(text, out var group) && _groupMarkers.TryGetValue((diskId, group), out var waiter)) waiter.TrySetException(refusal);
            _log($"marker '{text}' is not a recovery point: {refusal.Message}");
            return;
        }
        if (!GroupMarker.TryParse(text, out var groupBookmark))
        {
            lock (_heldBackPoints)
                // Markers become durable in stream order, so the group's marker has been seen here exactly when its waiter is done.
                if (_groupMarkers.Any(g => g.Key.Disk == diskId && g.Value.Task.IsCompleted))
                {
                    _heldBackPoints.Add((diskId, marker));
                    return;
                }
            _events.RecoveryPointDurable(diskId, text, marker.Sequence, marker.TimeUnixMs);
            return;
        }
        // A group marker becomes a point only through its coordinator, which records it on every disk or none.
        if (_groupMarkers.TryGetValue((diskId, groupBookmark), out var waiting)) waiting.TrySetResult(marker.Sequence);
        else _log($"disk {diskId}: group marker {groupBookmark} at #{marker.Sequence} is durable but its bookmark was abandoned: not a recovery point");
    }

    /// <summary>
    /// Takes a crash-consistent point per machine whose disks moved since its last point. A machine whose
    /// agent is resending overflowed regions is skipped this round (no consistent point exists yet).
    /// </summary>
    async Task AutoRecoveryPointsAsync(TimeSpan every, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(every, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            // A group bookmark between its commit and its points: an automatic point now would reach the disks
            // first with a later sequence, and the group's point would arrive out of sequence order.
            if (!_groupMarkers.IsEmpty) continue;
            var byMachine = _sessionByDisk.Keys
                .Where(d => _machineByDisk.ContainsKey(d) && _disks.TryGetValue(d, out var l) && l.IsValueCreated && l.Value.IsCompletedSuccessfully)
                .GroupBy(d => _machineByDisk[d]);
            foreach (var machine in byMachine)
            {
                var disks = machine.OrderBy(d => d, StringComparer.Ordinal).ToList();
                var moved = disks.Any(d => _disks[d].Value.Result.DurableThrough > _lastAutoPoint.GetValueOrDefault(d));
                if (!moved) continue;
                var resyncing = disks.Select(d => (Disk: d, Range: _disks[d].Value.Result.ResyncRanges.Open)).Where(x => x.Range is not null).ToList();
                if (resyncing.Count > 0)
                {
                    var why = string.Join(", ", resyncing.Select(x => $"{x.Disk}: {x.Range}"));
                    if (_autoSkipLogged.GetValueOrDefault(machine.Key) != why)
                        _log($"machine {machine.Key}: automatic recovery points skipped while a resync runs ({why})");
                    _autoSkipLogged[machine.Key] = why;
                    continue;
                }
                _autoSkipLogged.TryRemove(machine.Key, out _);
                try
                {
                    var name = $"auto-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}";
                    var result = await BookmarkOnceAsync(name, disks, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
                    if (result.Error is null)
                        foreach (var (disk, seq) in result.Sequences) _lastAutoPoint[disk] = seq;
                }
                catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException) { }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            }
        }
    }

    /// <summary>Each disk's retention, every <paramref name="every"/>: a checkpoint when due, the base rolled to the window.</summary>
    async Task RetentionLoopAsync(TimeSpan every, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(every, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            foreach (var lazy in _disks.Values)
            {
                if (!lazy.IsValueCreated || !lazy.Value.IsCompletedSuccessfully) continue;
                var disk = lazy.Value.Result;
                try
                {
                    if (_machineByDisk.TryGetValue(disk.DiskId, out var machine))
                        disk.WindowOverride = _groupWindows.TryGetValue(machine, out var window) ? window : null;
                    await Task.Run(() => disk.MaintainRetentionAsync(Now(), ct), ct).ConfigureAwait(false);
                    CheckClockSkew(disk);
                    // The control plane forgets points whose data the window no longer reaches; told again after a
                    // restart (the command is idempotent), otherwise only when the window moved.
                    var oldest = disk.Retention.Window().OldestSequence;
                    if (oldest > 1 && _windowTold.GetValueOrDefault(disk.DiskId) != oldest)
                    {
                        _events.RecoveryPointsExpired(disk.DiskId, oldest);
                        _windowTold[disk.DiskId] = oldest;
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
                catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    _log($"master target: retention of disk {disk.DiskId}: {e.Message}");
                }
            }
        }
    }

    /// <summary>
    /// Tells the control plane when a disk's agent clock goes beyond <see cref="MasterTargetOptions.ClockSkewAlert"/> or
    /// back within it (and once after a start), so the alert is raised and cleared as an event.
    /// </summary>
    void CheckClockSkew(ReplicaDisk disk)
    {
        if (_options.ClockSkewAlert is not { } bound) return;
        if (disk.ClockSkew.Estimate(Now(), _options.ClockSkewPeriod ?? 6 * _options.RetentionCheckInterval) is not { } skew) return;
        var exceeded = Math.Abs(skew) > (long)bound.TotalMilliseconds;
        if (_skewTold.TryGetValue(disk.DiskId, out var told) && told == exceeded) return;
        _skewTold[disk.DiskId] = exceeded;
        if (exceeded) _log($"disk {disk.DiskId}: the agent's clock is {AgentClockSkewText(skew)} the master target's, beyond the {bound} bound; retention goes by the master target's clock");
        _events.AgentClockSkew(disk.DiskId, skew, (long)bound.TotalMilliseconds, exceeded);
    }

    static string AgentClockSkewText(long skewMs) =>
        $"{TimeSpan.FromMilliseconds(Math.Abs(skewMs))} {(skewMs >= 0 ? "ahead of" : "behind")}";

    /// <summary>True when <paramref name="diskId"/> has a replica on this master target (opened or on disk).</summary>
    public bool Knows(string diskId)
    {
        try { CheckDiskId(diskId); }
        catch (InvalidDataException) { return false; }
        return _disks.ContainsKey(diskId) || File.Exists(ReplicaDisk.DiskFilePath(DiskDirectory(diskId)));
    }

    /// <summary>The disk, opened from what is on disk if it was not offered since start; <see cref="KeyNotFoundException"/> when unknown.</summary>
    public async Task<ReplicaDisk> GetDiskAsync(string diskId)
    {
        CheckDiskId(diskId);
        if (_disks.TryGetValue(diskId, out var lazy)) return await lazy.Value.ConfigureAwait(false);
        var sizeFile = ReplicaDisk.DiskFilePath(DiskDirectory(diskId));
        if (!File.Exists(sizeFile))
            throw new KeyNotFoundException($"disk {diskId} has no replica on master target {_options.ServerId}");
        var size = ReplicaDisk.ReadRecordedSize(sizeFile, diskId);
        return await OpenDiskAsync(diskId, size).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the image of <paramref name="diskId"/> as of <paramref name="sequence"/> to <paramref name="outputPath"/>:
    /// base image + nearest checkpoint + journal to the point. <see cref="PointInTimeUnavailableException"/> when the
    /// point is outside the retention window.
    /// </summary>
    public async Task<MaterializeResult> RecoverAsync(string diskId, long sequence, string outputPath, IProgress<double>? progress, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (sequence > disk.DurableThrough)
            throw new ArgumentOutOfRangeException(nameof(sequence), $"disk {diskId}: sequence {sequence} is past what is durable here (#{disk.DurableThrough})");
        RefuseInsideResync(disk, sequence);
        using var view = disk.Retention.OpenView(sequence);
        return await Task.Run(() => PointInTimeMaterializer.MaterializeAsync(view, outputPath, progress, true, ct), ct).ConfigureAwait(false);
    }

    /// <summary>Opens a pinned random-access view of <paramref name="diskId"/> at <paramref name="sequence"/> (never inside a resync).</summary>
    public async Task<PointInTimeView> OpenViewAsync(string diskId, long sequence)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        RefuseInsideResync(disk, sequence);
        return disk.Retention.OpenView(sequence);
    }

    /// <summary>Every way of naming a point ends here or in the marker checks: a sequence inside a resync is refused.</summary>
    static void RefuseInsideResync(ReplicaDisk disk, long sequence)
    {
        if (disk.InsideResync(sequence) is { } refusal) throw refusal;
    }

    /// <summary>
    /// The last sequence of <paramref name="diskId"/> written at or before <paramref name="time"/>. A time that falls inside
    /// a resync is clamped to the last sequence before it (<see cref="ResolvedTime.ClampedFrom"/> says from what and why);
    /// when that is below the retention window the time is refused.
    /// </summary>
    public async Task<ResolvedTime> ResolveTimeAsync(string diskId, DateTimeOffset time)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        var point = disk.Retention.ResolveTimePoint(time, Now());
        var sequence = point.Sequence;
        // Resolved by the master target's receive time; a record from before receive times were kept goes by the agent's.
        var byAgent = point.ReceivedUnixMs is null ? $"#{sequence} was journaled before receive times were kept: resolved by the agent's write time" : null;
        if (disk.ResyncRanges.Covering(sequence) is not { } range)
            return new ResolvedTime(sequence, null, byAgent) { ReceivedUnixMs = point.ReceivedUnixMs, AgentTimeUnixMs = point.AgentTimeUnixMs };
        var clamped = disk.ResyncRanges.LastConsistentAtOrBefore(sequence);
        if (clamped < disk.Retention.Window().OldestSequence)
            throw new PointInsideResyncException(diskId, sequence, range);
        var times = disk.Retention.TimesOf(clamped);
        return new ResolvedTime(clamped, sequence, $"#{sequence} is inside a {range}; clamped to #{clamped}, the last state before it" + (byAgent is null ? "" : $"; {byAgent}"))
            { ReceivedUnixMs = times.ReceivedUnixMs, AgentTimeUnixMs = times.AgentTimeUnixMs };
    }

    /// <summary>
    /// The newest sequence of <paramref name="diskId"/> that is a state the source had: what is durable here, or the last
    /// sequence before a running resync. The "latest" point a failover uses. 0 when there is none yet.
    /// </summary>
    public async Task<long> LatestConsistentSequenceAsync(string diskId)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.ResyncRanges.LastConsistentAtOrBefore(disk.DurableThrough);
    }

    /// <summary>When this master target received <paramref name="sequence"/> of <paramref name="diskId"/> (its clock) and the agent's stamp of it.</summary>
    public async Task<PointTimes> PointTimesAsync(string diskId, long sequence)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.Retention.TimesOf(sequence);
    }

    /// <summary>Every disk with a replica on this master target, whether or not its agent is connected now (a failover needs the disks of agents that are gone).</summary>
    public IReadOnlyList<string> KnownDiskIds()
    {
        var root = Path.Combine(_options.DataDirectory, "disks");
        var onDisk = Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Where(d => File.Exists(ReplicaDisk.DiskFilePath(d))).Select(Path.GetFileName).OfType<string>()
            : [];
        return onDisk.Concat(_disks.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>SHA-256 of <paramref name="diskId"/> at <paramref name="sequence"/> read through a point-in-time view (what an export serves).</summary>
    public async Task<string> ViewSha256Async(string diskId, long sequence, CancellationToken ct)
    {
        using var view = await OpenViewAsync(diskId, sequence).ConfigureAwait(false);
        return await Task.Run(() =>
        {
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 20];
            for (long offset = 0; offset < view.Size; offset += buffer.Length)
            {
                ct.ThrowIfCancellationRequested();
                var n = (int)Math.Min(buffer.Length, view.Size - offset);
                view.Read(offset, buffer.AsSpan(0, n));
                sha.AppendData(buffer, 0, n);
            }
            return Convert.ToHexStringLower(sha.GetHashAndReset());
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// SHA-256 of <paramref name="diskId"/> at <paramref name="sequence"/> replayed the long way (base image, then the journal
    /// record by record) into a scratch image under <paramref name="scratchDirectory"/>, deleted afterwards.
    /// </summary>
    public async Task<string> ReplaySha256Async(string diskId, long sequence, string scratchDirectory, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        RefuseInsideResync(disk, sequence);
        using var pin = disk.Retention.OpenView(sequence);
        Directory.CreateDirectory(scratchDirectory);
        var scratch = Path.Combine(scratchDirectory, $"{diskId}@{sequence}-{Guid.NewGuid():n}.replay");
        try
        {
            var result = await Task.Run(() => new SiteRecovery.Journal.Recovery.PointInTimeBuilder(_compression).ReplayFromBaseAsync(pin, disk.Retention.Journal, scratch, ct), ct).ConfigureAwait(false);
            return result.Sha256.ToLowerInvariant();
        }
        finally { File.Delete(scratch); }
    }

    /// <summary>The recoverable range of <paramref name="diskId"/> now.</summary>
    public async Task<RetentionWindow> RetentionWindowAsync(string diskId)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        return disk.Retention.Window();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
        if (_autoPoints is not null) await _autoPoints.ConfigureAwait(false);
        if (_retention is not null) await _retention.ConfigureAwait(false);
        foreach (var s in _sessionByDisk.Values.Distinct()) s.Close();
        foreach (var lazy in _disks.Values)
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) await lazy.Value.Result.DisposeAsync().ConfigureAwait(false);
        _compression.Dispose();
    }

    /// <summary>One process-server connection.</summary>
    sealed class Session(MasterTargetServer server, Socket socket)
    {
        readonly SemaphoreSlim _sendLock = new(1, 1);
        NetworkStream? _net;
        readonly Dictionary<string, ReplicaDisk> _disks = new();
        DateTime _lastProgress = DateTime.MinValue;

        public void Close() => socket.Dispose();

        public async Task SendAsync(ControlMessage m, CancellationToken ct)
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try { await FrameIo.WriteAsync(_net!, FrameType.Control, m.ToBytes(), ct).ConfigureAwait(false); }
            finally { _sendLock.Release(); }
        }

        public async Task RunAsync(CancellationToken ct)
        {
            var peer = socket.RemoteEndPoint?.ToString() ?? "?";
            try
            {
                _net = new NetworkStream(socket, ownsSocket: true);
                var input = new FrameReader(_net);
                var first = await input.ReadAsync(ct).ConfigureAwait(false);
                if (first is null) return;
                if (first.Value.Type != FrameType.Control || ControlMessage.Parse(first.Value.Body) is not Hello hello)
                {
                    await SendAsync(new Refused("the first frame must be a hello"), ct).ConfigureAwait(false);
                    return;
                }
                var resume = new Dictionary<string, long>();
                if (hello.Disks.Count == 0)
                {
                    // The process server waits for resume before sending anything else: nothing is buffered past the hello.
                    if (input.BufferedBytes > 0) throw new InvalidDataException($"process server {hello.SourceId} sent more before its control hello was answered");
                    await AcceptedControl.ServeAsync(hello.SourceId, socket, server._pendingAgentReplies, server._controlByServer, server._log, ct).ConfigureAwait(false);
                    return;
                }
                foreach (var offer in hello.Disks)
                {
                    ReplicaDisk disk;
                    try { disk = await OpenOrReopenAsync(offer).ConfigureAwait(false); }
                    catch (Exception e) when (e is InvalidDataException or IOException)
                    {
                        await SendAsync(new Refused(e.Message), ct).ConfigureAwait(false);
                        return;
                    }
                    _disks[offer.DiskId] = disk;
                    // An earlier connection may have appended without committing: everything a process
                    // server forwards was durable in its spool, so commit it and resume after it.
                    if (server._sessionByDisk.TryGetValue(offer.DiskId, out var previous) && previous != this) previous.Close();
                    server._sessionByDisk[offer.DiskId] = this;
                    server._serverByDisk[offer.DiskId] = hello.SourceId;
                    if (offer.MachineId is { Length: > 0 } machine) server._machineByDisk[offer.DiskId] = machine;
                    await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                    try { await disk.CommitAsync(ct).ConfigureAwait(false); }
                    catch (IOException e) { throw StorageFailed(disk, e); }
                    finally { disk.Gate.Release(); }
                    resume[offer.DiskId] = disk.DurableThrough;
                    server._events.DiskAttached(offer.DiskId, offer.MachineId, offer.SizeBytes, hello.SourceId, disk.Replica is SiteRecovery.Journal.Replicas.Local.LocalFileReplicaStore l ? l.Path : offer.DiskId);
                }
                await SendAsync(new Resume(resume), ct).ConfigureAwait(false);
                await ReceiveAsync(input, ct).ConfigureAwait(false);
            }
            catch (DeltaRefusedException e)
            {
                server._log($"master target: connection from {peer} closed: {e.Message}");
            }
            catch (Exception e) when (e is IOException or SocketException or InvalidDataException or DeltaFormatException or ObjectDisposedException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested) server._log($"master target: connection from {peer} ended: {e.Message}");
            }
            catch (Exception e)
            {
                // Nothing ends a connection silently: an unexpected failure is logged with its type before the socket closes.
                server._log($"master target: connection from {peer} failed ({e.GetType().Name}): {e.Message}");
            }
            finally
            {
                foreach (var id in _disks.Keys) server._sessionByDisk.TryRemove(new KeyValuePair<string, Session>(id, this));
                socket.Dispose();
            }
        }

        async Task ReceiveAsync(FrameReader input, CancellationToken ct)
        {
            var dirty = new HashSet<ReplicaDisk>();
            var points = new List<(ReplicaDisk Disk, Delta Marker)>();
            var times = new Dictionary<string, List<long>>();
            var uncommitted = 0L;
            while (true)
            {
                // Never wait for the next frame with uncommitted deltas: whatever path the previous frame
                // took (applied, skipped as a resend, nak'd), what is appended gets made durable and acked.
                if (dirty.Count > 0 && input.BufferedBytes == 0 && !_net!.DataAvailable)
                {
                    await CommitAsync(dirty, points, ct).ConfigureAwait(false);
                    ReportLag(times);
                    uncommitted = 0;
                }
                var next = await input.ReadPooledAsync(ct).ConfigureAwait(false);
                if (next is not { } frame) break;
                using var recycled = frame;
                if (frame.Type == FrameType.Control)
                {
                    HandleControl(ControlMessage.Parse(frame.Body.Span));
                }
                else
                {
                    var body = frame.Body;
                    var header = DeltaCodec.Decode(body, out var compressed);
                    if (!_disks.TryGetValue(header.DiskId, out var disk))
                        throw new InvalidDataException($"delta for disk {header.DiskId}, which this connection did not offer");
                    // Checked before anything else, the sequence included: a refused record ends the connection, nothing stored.
                    if (DeltaValidation.Check(header, disk.Size, compressed) is { } violation)
                        throw new DeltaRefusedException(disk.DiskId, header.Sequence, violation);
                    await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                    try
                    {
                        if (header.Sequence <= disk.AppliedThrough) continue; // a resend overlap: already here
                        if (header.Sequence != disk.AppliedThrough + 1)
                        {
                            await SendAsync(new Nak(disk.DiskId, disk.AppliedThrough + 1, $"expected #{disk.AppliedThrough + 1}, got #{header.Sequence}"), ct).ConfigureAwait(false);
                            continue;
                        }
                        Delta delta;
                        // A write is applied before the pooled frame goes back: its payload may point into it. A marker is kept in
                        // `points` past this frame, so it gets its own copy.
                        try { delta = server._compression.DecodeStored(body, aliasUncompressed: header.Kind == DeltaKind.Write); }
                        catch (ChecksumMismatchException e)
                        {
                            await SendAsync(new Nak(disk.DiskId, header.Sequence, e.Message), ct).ConfigureAwait(false);
                            continue;
                        }
                        if (compressed && DeltaValidation.Check(delta, disk.Size) is { } decompressed)
                            throw new DeltaRefusedException(disk.DiskId, delta.Sequence, decompressed);
                        try { await disk.AppendAsync(delta, body, ct).ConfigureAwait(false); }
                        catch (IOException e) { throw StorageFailed(disk, e); }
                        if (delta.Kind == DeltaKind.Bookmark) points.Add((disk, delta));
                        if (server._options.LagObserver is not null)
                        {
                            if (!times.TryGetValue(disk.DiskId, out var list)) times[disk.DiskId] = list = [];
                            list.Add(delta.TimeUnixMs);
                        }
                        dirty.Add(disk);
                        uncommitted += body.Length;
                    }
                    finally { disk.Gate.Release(); }
                }
                if (dirty.Count > 0 && (input.BufferedBytes == 0 && !_net!.DataAvailable || uncommitted >= server._options.CommitBytes))
                {
                    await CommitAsync(dirty, points, ct).ConfigureAwait(false);
                    ReportLag(times);
                    uncommitted = 0;
                }
            }
            if (dirty.Count > 0) await CommitAsync(dirty, points, ct).ConfigureAwait(false);
            ReportLag(times);
        }

        void ReportLag(Dictionary<string, List<long>> times)
        {
            if (server._options.LagObserver is not { } observer || times.Count == 0) return;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var (disk, list) in times) observer(disk, list.Select(t => now - t).ToList());
            times.Clear();
        }

        async Task CommitAsync(HashSet<ReplicaDisk> dirty, List<(ReplicaDisk Disk, Delta Marker)> points, CancellationToken ct)
        {
            foreach (var disk in dirty)
            {
                long durable;
                await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                try { durable = await disk.CommitAsync(ct).ConfigureAwait(false); }
                catch (IOException e) { throw StorageFailed(disk, e); }
                finally { disk.Gate.Release(); }
                await SendAsync(new Ack(disk.DiskId, durable), ct).ConfigureAwait(false);
            }
            foreach (var (disk, marker) in points)
                server.MarkerDurable(disk.DiskId, marker);
            points.Clear();
            if (DateTime.UtcNow - _lastProgress >= server._options.ProgressInterval)
            {
                _lastProgress = DateTime.UtcNow;
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                foreach (var disk in dirty) server._events.ReplicationProgress(disk.DiskId, disk.DurableThrough, now, disk.BytesApplied);
            }
            dirty.Clear();
        }

        /// <summary>
        /// Stops <paramref name="disk"/> at a storage fault (see <see cref="ReplicaDisk.Stop"/>): reported once, closed in the
        /// background without committing, and the returned exception ends this connection with nothing acknowledged past it.
        /// </summary>
        IOException StorageFailed(ReplicaDisk disk, Exception error)
        {
            var (fault, isNew) = disk.Stop(error);
            var text = $"disk {disk.DiskId}: replication stopped after #{fault.StoppedAfter}: {fault.Reason}: {fault.Detail}";
            if (isNew)
            {
                server._log(text + "; nothing past it is acknowledged; the disk is reopened from its journal once the storage takes writes again");
                server._events.ReplicationStopped(disk.DiskId, fault.Reason, fault.StoppedAfter, fault.Detail);
                _ = Task.Run(disk.CloseAfterFaultAsync);
            }
            return new IOException(text, error);
        }

        /// <summary>
        /// The disk of a hello: opened (a failed open is forgotten, so the next hello tries again), or, when a storage fault
        /// stopped it, closed, the storage proved writable, and opened afresh from its journal (the redo brings the replica
        /// up to it); only then does the disk resume. Throws <see cref="IOException"/> while the storage still fails.
        /// </summary>
        async Task<ReplicaDisk> OpenOrReopenAsync(DiskOffer offer)
        {
            var opening = server.OpenDiskAsync(offer.DiskId, offer.SizeBytes);
            ReplicaDisk disk;
            try { disk = await opening.ConfigureAwait(false); }
            catch (IOException)
            {
                if (server._disks.TryGetValue(offer.DiskId, out var failed) && failed.IsValueCreated && failed.Value == opening)
                    server._disks.TryRemove(new KeyValuePair<string, Lazy<Task<ReplicaDisk>>>(offer.DiskId, failed));
                throw;
            }
            if (disk.Fault is not { } fault) return disk;
            await disk.CloseAfterFaultAsync().ConfigureAwait(false);
            disk.Journal.CloseAtDurable(); // finishes the cut back to the last fsync if the close could not
            var directory = server.DiskDirectory(offer.DiskId);
            ReplicaDisk.ProbeStorage(directory, server._options.Journal);
            var fresh = await ReplicaDisk.OpenAsync(directory, offer.DiskId, offer.SizeBytes, server._stores, server._compression, server._options.Journal,
                server._options.ReplicaFlushInterval, server._stop.Token, server._options.Retention, server._log).ConfigureAwait(false);
            server._disks[offer.DiskId] = new Lazy<Task<ReplicaDisk>>(Task.FromResult(fresh));
            server._log($"disk {offer.DiskId}: reopened at #{fresh.DurableThrough} after {fault.Reason}; replication resumes");
            server._events.ReplicationResumed(offer.DiskId);
            return fresh;
        }

        async Task AnswerHashesAsync(BlockHashRequest req)
        {
            BlockHashReply reply;
            try
            {
                if (!_disks.TryGetValue(req.DiskId, out var disk)) throw new InvalidDataException($"disk {req.DiskId} is not on this connection");
                if (req.BlockSize is < 4096 or > 16 << 20 || req.Count is < 1 or > 4096 || req.Offset < 0 || req.Offset >= disk.Size)
                    throw new InvalidDataException($"hash request for {req.DiskId} is out of range (block {req.BlockSize}, count {req.Count}, offset {req.Offset})");
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
                while (disk.DurableThrough < req.AfterSequence)
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"disk {req.DiskId} did not reach #{req.AfterSequence} (at #{disk.DurableThrough})");
                    await Task.Delay(10).ConfigureAwait(false);
                }
                var hashes = new List<ulong>(req.Count);
                var buffer = new byte[req.BlockSize];
                await disk.Gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    for (var i = 0; i < req.Count; i++)
                    {
                        var offset = req.Offset + (long)i * req.BlockSize;
                        if (offset >= disk.Size) break;
                        var n = (int)Math.Min(req.BlockSize, disk.Size - offset);
                        await disk.Replica.ReadAsync(offset, buffer.AsMemory(0, n)).ConfigureAwait(false);
                        hashes.Add(System.IO.Hashing.XxHash3.HashToUInt64(buffer.AsSpan(0, n)));
                    }
                }
                finally { disk.Gate.Release(); }
                reply = new BlockHashReply(req.RequestId, req.DiskId, req.Offset, hashes, null);
            }
            catch (Exception e) when (e is InvalidDataException or TimeoutException or IOException)
            {
                reply = new BlockHashReply(req.RequestId, req.DiskId, req.Offset, [], e.Message);
            }
            try { await SendAsync(reply, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }

        void HandleControl(ControlMessage m)
        {
            switch (m)
            {
                case BookmarkInserted b when server._pendingBookmarks.TryGetValue(b.RequestId, out var tcs):
                    tcs.TrySetResult(b);
                    break;
                case IAgentReply r when server._pendingAgentReplies.TryGetValue(r.RequestId, out var waiting):
                    waiting.TrySetResult(m);
                    break;
                case ResyncNotice n:
                    server._events.Resync(n);
                    break;
                case StorageFaultNotice n:
                    // A process server's spool failed under the disk, or was reopened: the disk's alert follows it.
                    server._log($"disk {n.DiskId}: process server reports replication {(n.Cleared ? "resumed" : $"stopped after #{n.StoppedAfter}: {n.Reason}: {n.Detail}")}");
                    if (n.Cleared) server._events.ReplicationResumed(n.DiskId);
                    else server._events.ReplicationStopped(n.DiskId, n.Reason, n.StoppedAfter, n.Detail);
                    break;
                case BlockHashRequest req:
                    // Off the receive loop: the hashes wait for deltas this very loop applies.
                    _ = Task.Run(() => AnswerHashesAsync(req));
                    break;
                default:
                    server._log($"master target: ignoring {m.GetType().Name}");
                    break;
            }
        }
    }
}

