using SiteRecovery.Agent.Consistency;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The agent's side of a planned failover: stop the source's writes and drain them (<see cref="StopAsync"/>), or take
/// writes again when the failover is rolled back (<see cref="ResumeAsync"/>).
///
/// Invariants:
/// - the switch to read-only is made under each disk's write lock, taken in disk-id order (the agent's one lock order)
///   for all the request's disks at once; a change is checked against it under the same lock before it is applied, so a
///   change either was applied and numbered before the stop, or is refused with NBD_EPERM and never reaches the disk or
///   the stream;
/// - a disk whose resync scan runs is refused, and then no disk of the request changes: its replica is not
///   crash-consistent, so a stop there could not be clean;
/// - the reported sequence of a disk is its last sequence at a moment when the process server had acknowledged it, no
///   scan ran and no dirty region was left: every write the source ever acknowledged is at or before it;
/// - the reported sequence is kept until the disk resumes, so a stop asked twice answers the same (a group point's marker
///   numbered after the stop does not move it);
/// - the stop lives in memory only, on purpose: an agent restarted after a stop serves its disks writable again (a
///   resume then says which disks were not stopped), and a stop asked again is carried out again.
/// A quiescing stop (<see cref="StopForFailover.Quiesce"/>, a planned failover) runs freeze, shutdown and the wait for NBD
/// clients before all this, and the thaw after it: see FailoverStops.Quiesce.cs.
/// </summary>
public sealed partial class FailoverStops(IReadOnlyDictionary<string, ReplicatedExport> disks, Action<string> log, QuiesceSetup? quiesce = null)
{
    /// <summary>The longest an agent waits for the drain in one request: below the process server's 30 s routing limit.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(25);

    readonly object _gate = new();
    // Per stopped disk, its drained last sequence (see the invariants); removed on resume.
    readonly Dictionary<string, long> _drainedAt = new();

    public async Task<StoppedForFailover> StopAsync(StopForFailover req, CancellationToken ct)
    {
        if (Unknown(req.DiskIds) is { } unknown)
            return new StoppedForFailover(req.RequestId, new Dictionary<string, long>(), unknown, FailoverStopFailure.UnknownDisk);
        return req.Quiesce ? await QuiescedStopAsync(req, ct).ConfigureAwait(false) : await StopNowAsync(req, ct).ConfigureAwait(false);
    }

    /// <summary>Read-only at once, then the drain (the plain stop, and the middle of a quiescing one).</summary>
    async Task<StoppedForFailover> StopNowAsync(StopForFailover req, CancellationToken ct)
    {
        var targets = Targets(req.DiskIds);
        foreach (var t in targets) await t.WriteLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var resyncing = targets.Where(t => !t.ReadOnly && t.ScanRunning).Select(t => t.NotCrashConsistent()).ToList();
            if (resyncing.Count > 0)
                return new StoppedForFailover(req.RequestId, new Dictionary<string, long>(),
                    $"{string.Join("; ", resyncing)}: cannot stop cleanly; nothing was stopped, ask again when the resync completes", FailoverStopFailure.Resyncing);
            foreach (var t in targets.Where(t => !t.ReadOnly))
            {
                t.StopWrites();
                log($"disk {t.Name}: writes stopped for a planned failover after #{t.Stream.LastSequence}; NBD clients get EPERM on writes and can still read");
            }
        }
        finally
        {
            foreach (var t in targets) t.WriteLock.Release();
        }

        var wait = TimeSpan.FromMilliseconds(Math.Clamp(req.WaitMs, 0, (int)MaxWait.TotalMilliseconds));
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            var pending = new List<ReplicatedExport>();
            foreach (var t in targets)
                if (!await TryRecordDrainedAsync(t, ct).ConfigureAwait(false)) pending.Add(t);
            if (pending.Count == 0) break;
            if (DateTime.UtcNow >= deadline)
            {
                var why = new List<string>();
                foreach (var t in pending) why.Add(await PendingWhyAsync(t, ct).ConfigureAwait(false));
                // A resync that started after the stop (a stream gap on reconnect) is waited for like any drain: the text says so.
                return new StoppedForFailover(req.RequestId, new Dictionary<string, long>(),
                    $"writes are stopped but not drained within {wait.TotalMilliseconds:0} ms: {string.Join("; ", why)}; ask again to keep waiting",
                    FailoverStopFailure.DrainTimeout);
            }
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        lock (_gate) return new StoppedForFailover(req.RequestId, targets.ToDictionary(t => t.Name, t => _drainedAt[t.Name]), null);
    }

    public async Task<ResumedAfterFailover> ResumeAsync(ResumeAfterFailover req, CancellationToken ct)
    {
        if (Unknown(req.DiskIds) is { } unknown) return new ResumedAfterFailover(req.RequestId, [], unknown, FailoverStopFailure.UnknownDisk);
        // A quiescing stop still running would turn the disks read-only after this resume (a rollback asked while the
        // freeze or the wait for clients runs): it ends first, then everything it stopped takes writes again.
        Task? quiescing;
        lock (_gate) quiescing = _quiescing is { IsCompleted: false } q ? q : null;
        if (quiescing is not null)
        {
            log("resume after failover: waiting for the quiescing stop in progress to end first");
            await quiescing.WaitAsync(ct).ConfigureAwait(false);
        }
        var notStopped = new List<string>();
        foreach (var t in Targets(req.DiskIds))
        {
            await t.WriteLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (!t.ReadOnly) notStopped.Add(t.Name);
                t.AllowWrites();
                lock (_gate) { _drainedAt.Remove(t.Name); _quiescedHow.Remove(t.Name); }
            }
            finally { t.WriteLock.Release(); }
            log(notStopped.Contains(t.Name)
                ? $"disk {t.Name}: resume after failover: the disk was not stopped (a stop does not survive an agent restart); it stays writable"
                : $"disk {t.Name}: writes allowed again after a rolled-back failover, from #{t.Stream.LastSequence + 1}");
        }
        return new ResumedAfterFailover(req.RequestId, notStopped, null);
    }

    string? Unknown(IReadOnlyList<string> ids)
    {
        var missing = ids.Where(id => !disks.ContainsKey(id)).Distinct().ToList();
        if (ids.Count == 0) return "no disk given";
        return missing.Count > 0 ? $"unknown disk(s) on this agent: {string.Join(", ", missing)}" : null;
    }

    List<ReplicatedExport> Targets(IReadOnlyList<string> ids) =>
        ids.Distinct().OrderBy(id => id, StringComparer.Ordinal).Select(id => disks[id]).ToList();

    /// <summary>True when the disk's drained sequence is known (recorded now or before and still acknowledged).</summary>
    async Task<bool> TryRecordDrainedAsync(ReplicatedExport t, CancellationToken ct)
    {
        await t.WriteLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                // A record stays good while the process server still holds it; after a stream gap (its spool lost what it had
                // acknowledged) a resync follows, and the disk drains again at that resync's end.
                if (_drainedAt.TryGetValue(t.Name, out var recorded))
                {
                    if (recorded <= t.Stream.AckedThrough && !t.ScanRunning) return true;
                    _drainedAt.Remove(t.Name);
                }
            }
            if (!t.ReadOnly || t.ScanRunning || t.Dirty.Count > 0) return false;
            var last = t.Stream.LastSequence;
            if (t.Stream.AckedThrough < last) return false;
            lock (_gate) _drainedAt[t.Name] = last;
            log($"disk {t.Name}: drained for a planned failover: the process server holds everything through #{last}");
            return true;
        }
        finally { t.WriteLock.Release(); }
    }

    async Task<string> PendingWhyAsync(ReplicatedExport t, CancellationToken ct)
    {
        await t.WriteLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!t.ReadOnly) return $"{t.Name} was resumed meanwhile";
            if (t.ScanRunning || t.Dirty.Count > 0) return t.NotCrashConsistent()!;
            return $"{t.Name}: {t.Stream.LastSequence - t.Stream.AckedThrough} deltas not acknowledged (process server holds #{t.Stream.AckedThrough} of #{t.Stream.LastSequence})";
        }
        finally { t.WriteLock.Release(); }
    }
}
