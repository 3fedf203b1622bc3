using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// A store whose point snapshots (<see cref="IPointSnapshots"/>) can be read in place, as the base of a point-in-time
/// view: a point is then read from the snapshot at or below it plus the retention journal's records after the snapshot,
/// by the same view, materializer and export as a point read from the local base image.
/// </summary>
public interface IPointSnapshotReads
{
    /// <summary>
    /// The disk's bytes as <paramref name="snapshot"/> holds them (no footer), read from the store on demand. A snapshot
    /// the store no longer holds (pruned meanwhile) is refused, here or at a later read, with <see cref="IOException"/> naming it.
    /// </summary>
    ValueTask<IPointBase> OpenSnapshotBaseAsync(PointSnapshot snapshot, CancellationToken cancellationToken = default);
}
