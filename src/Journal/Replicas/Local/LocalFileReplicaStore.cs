using SiteRecovery.Contracts.Storage;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Journal.Replicas.Local;

/// <summary>
/// A replica kept as a sparse file of the disk's size on a local file system.
/// Fencing: an exclusive lock file <c>&lt;replica&gt;.lock</c> (FileShare.None, kept open for the store's lifetime,
/// content = owner id) keeps out any second opener, in this or another process. Because an exclusively locked file
/// cannot be read by the loser on every platform, the owner id is also published in <c>&lt;replica&gt;.lock.owner</c>
/// so the refusal can name who holds it. The lock file is never deleted: unlinking a locked file would let a
/// late opener lock the old inode while a new opener locks a new one.
/// </summary>
public sealed class LocalFileReplicaStore : IReplicaStore
{
    private readonly SafeFileHandle _data;
    private readonly FileStream _lock;
    private int _disposed;

    private LocalFileReplicaStore(string diskId, string path, long size, string ownerId, SafeFileHandle data, FileStream lockFile)
    {
        DiskId = diskId;
        Path = path;
        Size = size;
        OwnerId = ownerId;
        _data = data;
        _lock = lockFile;
    }

    public string DiskId { get; }
    public long Size { get; }

    /// <summary>An existing file adopted as the replica (<c>--replica-file</c>): the retention's base starts from its content.</summary>
    public bool Adopted { get; private init; }

    /// <summary>The replica file.</summary>
    public string Path { get; }

    /// <summary>Who holds the fence (written into the lock file).</summary>
    public string OwnerId { get; }

    /// <summary>The lock file path for a replica file.</summary>
    public static string LockPathFor(string replicaPath) => replicaPath + ".lock";

    /// <summary>
    /// Takes the fence, then opens or creates the replica file at <paramref name="path"/> with <paramref name="size"/>
    /// bytes. Throws <see cref="ReplicaFencedException"/> if another owner holds the fence, and
    /// <see cref="InvalidOperationException"/> if an existing replica has another size.
    /// </summary>
    public static LocalFileReplicaStore Open(string path, string diskId, long size, string ownerId, bool adopted = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(diskId);
        ArgumentException.ThrowIfNullOrEmpty(ownerId);
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        path = System.IO.Path.GetFullPath(path);

        var lockFile = AcquireFence(path, ownerId);
        try
        {
            SafeFileHandle data;
            // An adopted file is a machine's own disk: held exclusively (flock LOCK_EX), so an agent still serving it (or
            // one started on it while it replicates back) is refused instead of writing beside the master target.
            // A new replica is created 0600 first; an adopted file is the machine's own disk and keeps its mode.
            if (!adopted && !File.Exists(path)) PrivateFiles.CreateIfMissing(path);
            try { data = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, adopted ? FileShare.None : FileShare.Read); }
            catch (IOException e) when (adopted && File.Exists(path))
            {
                throw new InvalidDataException($"disk {diskId}: replica file '{path}' is in use by another process (the original machine's agent still serving it?): " +
                    $"stop it before this master target adopts the file ({e.Message})", e);
            }
            try
            {
                var existing = RandomAccess.GetLength(data);
                if (existing == 0 && size > 0)
                {
                    // SetLength on a new file leaves a hole: no blocks are allocated until written.
                    RandomAccess.SetLength(data, size);
                    RandomAccess.FlushToDisk(data);
                }
                else if (existing != size)
                {
                    throw new InvalidOperationException($"replica '{path}' for disk '{diskId}' is {existing} bytes, but the disk is {size} bytes");
                }
                return new LocalFileReplicaStore(diskId, path, size, ownerId, data, lockFile) { Adopted = adopted };
            }
            catch
            {
                data.Dispose();
                throw;
            }
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    private static FileStream AcquireFence(string path, string ownerId)
    {
        var lockPath = LockPathFor(path);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new ReplicaFencedException(lockPath, ReadOwner(lockPath), e);
        }
        try
        {
            var bytes = Encoding.UTF8.GetBytes(ownerId);
            lockFile.SetLength(0);
            lockFile.Write(bytes);
            lockFile.Flush(flushToDisk: true);
            // Publish the owner where a refused opener can read it; temp + rename so it never reads half a name.
            var ownerPath = lockPath + ".owner";
            var temp = ownerPath + ".tmp";
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, ownerPath, overwrite: true);
            return lockFile;
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    private static string ReadOwner(string lockPath)
    {
        try
        {
            return File.ReadAllText(lockPath + ".owner");
        }
        catch (IOException)
        {
            return "(unknown)";
        }
        catch (UnauthorizedAccessException)
        {
            return "(unknown)";
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, data.Length);
        // A synchronous write: on Linux an "async" file write is a blocking write queued to the thread pool, and the
        // master target's one writer per disk would pay a thread hop per delta for a copy into the page cache.
        cancellationToken.ThrowIfCancellationRequested();
        RandomAccess.Write(_data, data.Span, offset);
        return ValueTask.CompletedTask;
    }

    public ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, length);
        return SparseFile.ZeroAsync(_data, offset, length, cancellationToken);
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        ReplicaRange.Check(DiskId, Size, offset, buffer.Length);
        return SparseFile.ReadExactlyAsync(_data, offset, buffer, cancellationToken);
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        RandomAccess.FlushToDisk(_data);
        return ValueTask.CompletedTask;
    }

    /// <summary>Flushes, closes the replica and releases the fence.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        try
        {
            RandomAccess.FlushToDisk(_data);
        }
        finally
        {
            _data.Dispose();
            _lock.Dispose();
        }
        return ValueTask.CompletedTask;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
