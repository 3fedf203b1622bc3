using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Replicas.Local;

/// <summary>
/// Keeps each disk's replica as <c>&lt;directory&gt;/&lt;diskId&gt;.img</c>, fenced to <paramref name="ownerId"/>, except the
/// disks of <paramref name="adoptedFiles"/>: their replica is an existing file elsewhere (a reprotect writes back into the
/// original machine's disk). An adopted file is opened as it is, only when its size is the offered size; it is never
/// created, truncated, zeroed or deleted here. It is fenced the same way, by <c>&lt;file&gt;.lock</c> beside it.
/// </summary>
public sealed class LocalFileReplicaStoreFactory(string directory, string ownerId, IReadOnlyDictionary<string, string>? adoptedFiles = null) : IReplicaStoreFactory
{
    public string Directory { get; } = Path.GetFullPath(directory);
    public string OwnerId { get; } = ownerId;

    /// <summary>Disk id → full path of the existing file that holds its replica.</summary>
    public IReadOnlyDictionary<string, string> AdoptedFiles { get; } =
        (adoptedFiles ?? new Dictionary<string, string>()).ToDictionary(kv => kv.Key, kv => Path.GetFullPath(kv.Value), StringComparer.Ordinal);

    /// <summary>Throws <see cref="ArgumentException"/> unless the id is usable as a file name (it cannot escape the directory).</summary>
    public static void CheckDiskId(string diskId)
    {
        ArgumentException.ThrowIfNullOrEmpty(diskId);
        foreach (var c in diskId)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') || diskId.StartsWith('.'))
                throw new ArgumentException($"disk id '{diskId}' may only hold letters, digits, '-', '_' and '.' (not leading)", nameof(diskId));
    }

    /// <summary>The default place of a disk's replica, whether or not it is adopted elsewhere.</summary>
    public string DefaultPathFor(string diskId)
    {
        CheckDiskId(diskId);
        return Path.Combine(Directory, diskId + ".img");
    }

    /// <summary>The replica file used for a disk id: the adopted file, or <see cref="DefaultPathFor"/>.</summary>
    public string PathFor(string diskId)
    {
        CheckDiskId(diskId);
        return AdoptedFiles.TryGetValue(diskId, out var adopted) ? adopted : DefaultPathFor(diskId);
    }

    public ValueTask<bool> ExistsAsync(string diskId, CancellationToken cancellationToken = default) => ValueTask.FromResult(File.Exists(PathFor(diskId)));

    public ValueTask<IReplicaStore> OpenAsync(string diskId, long size, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (AdoptedFiles.TryGetValue(diskId, out var adopted))
        {
            // Checked before the open: Open would create a missing file, or size an empty one.
            var info = new FileInfo(adopted);
            if (!info.Exists)
                throw new InvalidDataException($"disk {diskId}: replica file '{adopted}' (--replica-file) does not exist; the offer is refused");
            if (info.Length != size)
                throw new InvalidDataException($"disk {diskId}: replica file '{adopted}' (--replica-file) is {info.Length} bytes, but the disk is offered with {size} bytes; the offer is refused and the file is left as it is");
            return ValueTask.FromResult<IReplicaStore>(LocalFileReplicaStore.Open(adopted, diskId, size, OwnerId, adopted: true));
        }
        PrivateFiles.CreateDirectory(Directory);
        return ValueTask.FromResult<IReplicaStore>(LocalFileReplicaStore.Open(DefaultPathFor(diskId), diskId, size, OwnerId));
    }
}
