namespace SiteRecovery.Journal.Replicas;

/// <summary>Opens (creating if needed) the replica of a disk on one backend; the store is fenced to this opener.</summary>
public interface IReplicaStoreFactory
{
    /// <summary>
    /// Opens the replica of <paramref name="diskId"/>, creating it with <paramref name="size"/> bytes if missing.
    /// Fails if another owner holds it or if an existing replica has a different size.
    /// </summary>
    ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default);
}
