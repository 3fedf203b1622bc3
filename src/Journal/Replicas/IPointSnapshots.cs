namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// A replica store that can keep a recovery point's state as a snapshot of the replica itself (a page blob's snapshot),
/// beside <see cref="IReplicaStore"/>: a store without snapshots does not implement it and the master target asks nothing.
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>A snapshot holds exactly the point's state: the master target asks for it while it holds the disk's gate, right
/// after applying the point's marker, so every write through the marker's sequence has been applied and none after it;
/// the store uploads anything it holds back before the snapshot is taken.</item>
/// <item>The record of a snapshot (point, sequence) travels with the snapshot itself, so a restart finds every one.</item>
/// </list>
/// </summary>
public interface IPointSnapshots
{
    /// <summary>Whether this store takes a snapshot per point (a setting); when false every other member is unused.</summary>
    bool SnapshotsPoints { get; }

    /// <summary>Takes a snapshot of the replica as it stands now (every write so far uploaded first), recorded as <paramref name="point"/> at <paramref name="sequence"/>.</summary>
    ValueTask<PointSnapshot> SnapshotPointAsync(string point, long sequence, CancellationToken cancellationToken = default);

    /// <summary>The snapshots recorded for this replica, by sequence (the latest one of a sequence taken twice).</summary>
    ValueTask<IReadOnlyList<PointSnapshot>> ListPointSnapshotsAsync(CancellationToken cancellationToken = default);

    /// <summary>Deletes the snapshots of points below <paramref name="oldestSequence"/> (they left the retention window); returns how many.</summary>
    ValueTask<int> PrunePointSnapshotsAsync(long oldestSequence, CancellationToken cancellationToken = default);

    /// <summary>Writes the disk's bytes as <paramref name="snapshot"/> holds them (no footer) to the raw image <paramref name="outputPath"/>.</summary>
    ValueTask MaterializeAsync(PointSnapshot snapshot, string outputPath, CancellationToken cancellationToken = default);
}

/// <summary>A snapshot of a replica that holds recovery point <paramref name="Point"/> (its marker at <paramref name="Sequence"/>).</summary>
/// <param name="Snapshot">The backend's name of the snapshot (a page blob's snapshot timestamp).</param>
public sealed record PointSnapshot(string Point, long Sequence, string Snapshot);
