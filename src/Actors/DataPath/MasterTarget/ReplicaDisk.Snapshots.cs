using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A recovery point kept as a snapshot of the replica (a store that is <see cref="IPointSnapshots"/> with the setting on).
/// <para>Why here: <see cref="AppendAsync"/> runs under <see cref="Gate"/>, one delta at a time in sequence order, and is
/// the only writer of the replica once the disk is open; right after a marker is applied the replica has taken every
/// write through the marker's sequence and none after it, and the store uploads what it holds back before the snapshot.
/// That moment exists nowhere else: at commit time later deltas may already be applied.</para>
/// <para>A snapshot that fails throws like a replica write (the disk stops and the marker, not yet acknowledged, comes
/// again), so a point acknowledged with the setting on has its snapshot. The redo after a restart re-applies markers
/// without snapshots: their snapshots were taken when they were first applied (a marker snapshotted twice keeps the later).
/// Resync markers, and markers inside a resync, are no points and get none.</para>
/// </summary>
public sealed partial class ReplicaDisk
{
    async ValueTask SnapshotIfPointAsync(Delta marker, CancellationToken ct)
    {
        if (Replica is not IPointSnapshots { SnapshotsPoints: true } snapshots) return;
        if (ResyncMarker.TryParse(marker.BookmarkId, out _, out _) || InsideResync(marker.Sequence) is not null) return;
        var point = GroupMarker.TryParse(marker.BookmarkId, out var group) ? group : marker.BookmarkId;
        var taken = await snapshots.SnapshotPointAsync(point, marker.Sequence, ct).ConfigureAwait(false);
        _log?.Invoke($"disk {DiskId}: point '{point}' at #{marker.Sequence} kept as replica snapshot {taken.Snapshot}");
    }
}
