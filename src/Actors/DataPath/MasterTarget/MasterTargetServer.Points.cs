using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Resync;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// How recovery points come to be: bookmarks asked of an agent, the group bookmark path the consistency coordinator
/// drives (requests to agents, group markers and their durability), automatic points, and which durable marker becomes
/// a point. Kept together because their ordering rules (points held back behind a group's marker, no automatic point
/// while a group waits) only hold when read as one.
/// </summary>
public sealed partial class MasterTargetServer
{
    /// <summary>
    /// Asks the agent that owns <paramref name="diskIds"/> (all of one agent) to insert a bookmark, then
    /// waits until the marker is durable here on every disk. Returns the marker's sequence per disk.
    /// </summary>
    public async Task<BookmarkInserted> BookmarkAsync(string bookmarkId, IReadOnlyList<string> diskIds, TimeSpan timeout, CancellationToken ct)
    {
        // A disk that is resending overflowed regions has no consistent point yet: retry until it has,
        // within the caller's timeout.
        // Past the deadline the caller gets the last refusal (naming the resync and its progress), not a bare timeout.
        // A process-server connection that ends under a try (a restart of any hop) is retried on the next connection.
        var deadline = DateTime.UtcNow + timeout;
        BookmarkInserted? refused = null;
        // A try whose request went out on a connection that ended before the answer: its marker may be in the stream and
        // become a point later, so no refusal is the answer after it (the name could yet name a point), only a timeout.
        string? unsettled = null;
        // What the caller is told when its whole timeout passed, and why.
        string Late(string why) => $"bookmark {bookmarkId} on {string.Join(", ", diskIds)} did not complete within {timeout.TotalSeconds:0.#} s: {why}";
        TimeoutException Unsettled(string message) =>
            new($"{message}; an earlier try's request went out on a connection that ended before its answer ({unsettled}), so its marker may yet be a recovery point");
        while (true)
        {
            BookmarkInserted result;
            try { result = await BookmarkOnceAsync(bookmarkId, diskIds, deadline - DateTime.UtcNow, ct).ConfigureAwait(false); }
            catch (MarkerNotDurableException e)
            {
                // The last try's marker is in the stream: whether it becomes a point is not known yet, so the answer is a
                // timeout, never an earlier try's refusal (the point could appear under a name the caller was told was refused).
                throw new TimeoutException(Late(e.Message));
            }
            catch (ConnectionLostException e)
            {
                if (e.RequestSent) unsettled = e.Message;
                if (DateTime.UtcNow + ConnectionRetryPause >= deadline)
                {
                    var late = Late(e.Message);
                    if (unsettled is not null) throw Unsettled(late);
                    throw new InvalidOperationException(late);
                }
                await Task.Delay(ConnectionRetryPause, ct).ConfigureAwait(false);
                continue;
            }
            catch (TimeoutException e) when (unsettled is not null) { throw Unsettled(e.Message); }
            catch (TimeoutException) when (refused is not null)
            {
                // This try's request went out and its answer did not come in time: the agent may yet insert the marker, and
                // it would become a point, so the earlier try's refusal is no longer a true answer (the chaos suite saw a
                // name refused this way become a point a moment later).
                throw new TimeoutException(Late($"an earlier try was refused ({refused.Error}), and the last try's request got no answer in time, so its marker may yet be a recovery point"));
            }
            if (result.Error is null) return result;
            var retryable = RetryableRefusal.Is(result.Retryable, result.Error);
            if (unsettled is not null && (!retryable || DateTime.UtcNow + ConnectionRetryPause >= deadline))
                throw Unsettled($"bookmark {bookmarkId} on {string.Join(", ", diskIds)}: the last try was refused: {result.Error}");
            if (!retryable) return result;
            refused = result with { Retryable = true };
            if (DateTime.UtcNow + ConnectionRetryPause >= deadline) return refused;
            await Task.Delay(ConnectionRetryPause, ct).ConfigureAwait(false);
        }
    }

    // Between tries of a bookmark: long enough for a process server to reconnect or a resync to move, short beside any timeout.
    static readonly TimeSpan ConnectionRetryPause = TimeSpan.FromMilliseconds(100);

    async Task<BookmarkInserted> BookmarkOnceAsync(string bookmarkId, IReadOnlyList<string> diskIds, TimeSpan timeout, CancellationToken ct)
    {
        if (timeout <= TimeSpan.Zero) timeout = TimeSpan.FromMilliseconds(1);
        if (diskIds.Count == 0) throw new ArgumentException("a bookmark needs at least one disk");
        var missing = diskIds.Where(d => !_sessionByDisk.ContainsKey(d)).ToList();
        if (missing.Count > 0)
        {
            var what = $"no process server is connected for disk(s) {string.Join(", ", missing)}";
            // A disk held here whose connection is gone is reconnecting (a hop restarted): worth waiting for. One never held here is not.
            if (missing.All(_disks.ContainsKey)) throw new ConnectionLostException(what, requestSent: false);
            throw new InvalidOperationException(what);
        }
        if (!_sessionByDisk.TryGetValue(diskIds[0], out var session)) throw new ConnectionLostException($"no process server is connected for disk {diskIds[0]}", requestSent: false);
        var request = new BookmarkRequest(Guid.NewGuid().ToString("n"), bookmarkId, diskIds);
        using var answer = _bookmarks.Expect(request.RequestId);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        BookmarkInserted? pending = null;
        try
        {
            await session.SendRequestAsync(request, cts.Token).ConfigureAwait(false);
            await Task.WhenAny(answer.Reply, session.Ended).WaitAsync(cts.Token).ConfigureAwait(false);
            // The connection ended first: the request or its answer went with it (a late answer on the next connection is dropped).
            if (!answer.Reply.IsCompleted) throw new ConnectionLostException($"the connection from process server {ProcessServerOf(diskIds[0]) ?? "?"} ended before the agent answered", requestSent: true);
            var inserted = await answer.Reply.ConfigureAwait(false);
            if (inserted.Error is not null) return inserted;
            pending = inserted;
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
            if (pending is not null)
                throw new MarkerNotDurableException($"the agent inserted the marker ({string.Join(", ", pending.Sequences.Select(kv => $"{kv.Key} #{kv.Value}"))}), " +
                    "not yet durable here; it becomes a recovery point unless it lies inside a resync");
            var late = $"bookmark {bookmarkId} on {string.Join(", ", diskIds)} did not complete within {timeout.TotalSeconds:0.#} s";
            // Right after an agent's restart its resync is what holds a bookmark up: the timeout names it. Still a timeout, not
            // a refusal: the request is out, and an agent that answers late may yet insert the marker after its resync.
            throw new TimeoutException(RunningResync(diskIds) is { } running
                ? $"{late}: disk {running.DiskId} is in a {running.Range}, and no point inside it is a state the source had; retry once it completes"
                : late);
        }
    }

    /// <summary>A try timed out after the agent had inserted its marker: the bookmark may yet become a point.</summary>
    sealed class MarkerNotDurableException(string message) : TimeoutException(message);

    /// <summary>
    /// A try lost its process-server connection (or found none while the disk's reconnects): worth another try on the
    /// next one. <paramref name="requestSent"/>: the request may have reached the agent, so its marker may yet be a point.
    /// </summary>
    sealed class ConnectionLostException(string message, bool requestSent) : IOException(message)
    {
        public bool RequestSent => requestSent;
    }

    /// <summary>The refusal of a point on the first of <paramref name="diskIds"/> whose resync is running (begun, not ended, here), or null.</summary>
    PointInsideResyncException? RunningResync(IReadOnlyList<string> diskIds) =>
        diskIds.Select(OpenedDisk).Select(disk => disk?.InsideResync(disk.AppliedThrough + 1)).FirstOrDefault(running => running is not null);

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
        using var answer = _agentReplies.Expect(request.RequestId);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            if (control is not null) control.Send((ControlMessage)request);
            else await session.SendRequestAsync((ControlMessage)request, cts.Token).ConfigureAwait(false);
            return await answer.Reply.WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return request.Failed($"no answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            return request.Failed($"process server connection failed: {e.Message}");
        }
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
        List<(string Disk, DurableMarker Marker)> release;
        lock (_heldBackPoints)
        {
            foreach (var d in diskIds) _groupMarkers.TryRemove((d, bookmarkId), out _);
            release = _heldBackPoints.Where(p => !_groupMarkers.Keys.Any(k => k.Disk == p.Disk)).ToList();
            _heldBackPoints.RemoveAll(p => !_groupMarkers.Keys.Any(k => k.Disk == p.Disk));
        }
        foreach (var (disk, m) in release) Report(disk, m);
    }

    // Single-machine points durable on a disk after a group's marker there, while the group still waits for its other
    // markers. A single bookmark already on its way when the group's holds went out can land right after the group's
    // marker; recorded at once, it would reach the disk before the group's point (recorded only when every disk's
    // marker is durable), and the disk's points would arrive out of sequence order (the disk files them in order, but the
    // events a portal streams would not be). A point whose marker comes before the group's is recorded at once.
    readonly List<(string Disk, DurableMarker Marker)> _heldBackPoints = [];

    /// <summary>
    /// Reports the disk's markers that became durable since the last call (its writer's commits, a hello's commit of what
    /// an earlier connection appended, or what the journal held at open that the catalogue may not have).
    /// </summary>
    internal void ReportDurableMarkers(ReplicaDisk disk)
    {
        foreach (var marker in disk.TakeDurableMarkers()) MarkerDurable(disk.DiskId, marker);
    }

    internal void MarkerDurable(string diskId, DurableMarker marker)
    {
        var text = marker.Name;
        if (OpenedDisk(diskId)?.InsideResync(marker.Sequence) is { } refusal)
        {
            if (GroupMarker.TryParse(text, out var group) && _groupMarkers.TryGetValue((diskId, group), out var waiter)) waiter.TrySetException(refusal);
            _log($"marker '{text}' is not a recovery point: {refusal.Message}");
            Settled(diskId, marker.Sequence);
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
            Report(diskId, marker);
            return;
        }
        // A group marker becomes a point only through its coordinator, which records it on every disk or none.
        Settled(diskId, marker.Sequence);
        if (_groupMarkers.TryGetValue((diskId, groupBookmark), out var waiting)) waiting.TrySetResult(marker.Sequence);
        else _log($"disk {diskId}: group marker {groupBookmark} at #{marker.Sequence} is durable but its bookmark was abandoned: not a recovery point");
    }

    /// <summary>Reports a point to the catalogue; the disk's ledger keeps the marker until the catalogue answers.</summary>
    void Report(string diskId, DurableMarker marker) =>
        _ = _events.RecoveryPointDurable(diskId, marker.Name, marker.Sequence, marker.TimeUnixMs).ContinueWith(answered =>
        {
            if (answered.IsCompletedSuccessfully && answered.Result) Settled(diskId, marker.Sequence);
        }, TaskScheduler.Default);

    /// <summary>The marker owes the catalogue nothing more (answered, or no point of its own); a disk reopened since takes it too.</summary>
    void Settled(string diskId, long sequence) => OpenedDisk(diskId)?.MarkerSettled(sequence);

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
}
