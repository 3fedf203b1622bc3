namespace SiteRecovery.Journal.Replicas;

/// <summary>Opens (creating if needed) the replica of a disk on one backend; the store is fenced to this opener.</summary>
public interface IReplicaStoreFactory
{
    /// <summary>
    /// Opens the replica of <paramref name="diskId"/>, creating it with <paramref name="size"/> bytes if missing.
    /// Fails if another owner holds it or if an existing replica has a different size.
    /// </summary>
    ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether the replica of <paramref name="diskId"/> exists on this backend (an adopted file included). A master target
    /// asks before it opens a disk it has already recorded: <see cref="OpenAsync"/> would make a missing replica anew,
    /// blank, and the redo from its checkpoint would leave everything before it missing.
    /// </summary>
    ValueTask<bool> ExistsAsync(string diskId, CancellationToken cancellationToken = default);
}
