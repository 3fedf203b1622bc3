using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// Applies deltas to a replica. It is the last line of defence before bytes land on the replica, so it re-checks
/// what upstream should already have checked: intact checksum, well-formed, right disk, within the disk.
/// </summary>
public static class ReplicaApplier
{
    /// <summary>
    /// Write → write the payload; Zero/Trim → zero the range; Bookmark → nothing. Throws
    /// <see cref="ChecksumMismatchException"/> for a damaged delta, <see cref="DeltaFormatException"/> for a malformed
    /// one or one for another disk, and <see cref="ArgumentOutOfRangeException"/> for one outside the replica.
    /// </summary>
    public static ValueTask ApplyAsync(IReplicaStore store, Delta delta, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(delta);
        if (!delta.IsIntact)
            throw new ChecksumMismatchException(delta.DiskId, delta.Sequence, "checksum does not match content; refusing to apply");
        if (delta.Validate() is { } problem)
            throw new DeltaFormatException($"delta {delta.DiskId}#{delta.Sequence} is malformed: {problem}");
        if (!string.Equals(delta.DiskId, store.DiskId, StringComparison.Ordinal))
            throw new DeltaFormatException($"delta {delta.DiskId}#{delta.Sequence} is for disk '{delta.DiskId}', not replica '{store.DiskId}'");

        switch (delta.Kind)
        {
            case DeltaKind.Write:
                ReplicaRange.Check(store.DiskId, store.Size, delta.Offset, delta.Length);
                return store.WriteAsync(delta.Offset, delta.Payload, cancellationToken);
            case DeltaKind.Zero:
            case DeltaKind.Trim:
                ReplicaRange.Check(store.DiskId, store.Size, delta.Offset, delta.Length);
                return store.ZeroAsync(delta.Offset, delta.Length, cancellationToken);
            default:
                return ValueTask.CompletedTask; // bookmarks mark a point in the stream; they change no bytes
        }
    }
}
