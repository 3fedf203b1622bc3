namespace SiteRecovery.Journal.Replicas.Local;

/// <summary>Keeps each disk's replica as <c>&lt;directory&gt;/&lt;diskId&gt;.img</c>, fenced to <paramref name="ownerId"/>.</summary>
public sealed class LocalFileReplicaStoreFactory(string directory, string ownerId) : IReplicaStoreFactory
{
    public string Directory { get; } = Path.GetFullPath(directory);
    public string OwnerId { get; } = ownerId;

    /// <summary>The replica file used for a disk id (ids are restricted so they cannot escape the directory).</summary>
    public string PathFor(string diskId)
    {
        ArgumentException.ThrowIfNullOrEmpty(diskId);
        foreach (var c in diskId)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || diskId.StartsWith('.'))
                throw new ArgumentException($"disk id '{diskId}' may only hold letters, digits, '-', '_' and '.' (not leading)", nameof(diskId));
        return Path.Combine(Directory, diskId + ".img");
    }

    public ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        System.IO.Directory.CreateDirectory(Directory);
        return ValueTask.FromResult<IReplicaStore>(LocalFileReplicaStore.Open(PathFor(diskId), diskId, size, OwnerId));
    }
}
