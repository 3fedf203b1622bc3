using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The retention pass over every disk (checkpoint when due, base rolled to the window, journal trimmed), the windows it
/// applies per machine, and the clock-skew check it carries. Apart because it runs on its own loop, off the data path,
/// and reaches the control plane only through events.
/// </summary>
public sealed partial class MasterTargetServer
{
    /// <summary>
    /// The retention window per machine, from the machine's protection group; a machine in no group keeps the
    /// configured window. Applied at the next retention pass.
    /// </summary>
    public void SetRetentionWindows(IReadOnlyDictionary<string, TimeSpan> byMachine) => _groupWindows = byMachine;

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
                    await PruneSnapshotsAsync(disk, oldest, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
                catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ObjectDisposedException)
                {
                    _log($"master target: retention of disk {disk.DiskId}: {e.Message}");
                }
            }
        }
    }

    // Per disk, the window's start the replica's point snapshots were last pruned to (again after a restart).
    readonly Dictionary<string, long> _snapshotsPrunedBelow = new();

    /// <summary>
    /// Deletes the replica snapshots of points that left the window, each time the window moves. A failure (an
    /// IOException naming the snapshot) is logged by the pass and tried again at the next one.
    /// </summary>
    async Task PruneSnapshotsAsync(ReplicaDisk disk, long oldest, CancellationToken ct)
    {
        // A snapshot an open view reads stays until the view closes (MasterTargetServer.SnapshotPoints.cs).
        oldest = Math.Min(oldest, OldestSnapshotInUse(disk.DiskId));
        if (disk.Replica is not IPointSnapshots { SnapshotsPoints: true } snapshots || _snapshotsPrunedBelow.GetValueOrDefault(disk.DiskId) == oldest) return;
        var deleted = await snapshots.PrunePointSnapshotsAsync(oldest, ct).ConfigureAwait(false);
        _snapshotsPrunedBelow[disk.DiskId] = oldest;
        if (deleted > 0) _log($"disk {disk.DiskId}: {deleted} replica snapshot(s) of points before #{oldest} deleted (they left the retention window)");
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
}
