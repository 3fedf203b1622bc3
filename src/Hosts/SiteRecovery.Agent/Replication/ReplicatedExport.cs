using Microsoft.Win32.SafeHandles;
using SiteRecovery.Capture;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The write splitter: an NBD export over the protected disk that applies every change to the
/// source and then appends it to the disk's replication stream, both under one lock, so the
/// stream order is the order changes were applied (overlapping writes included). The NBD reply
/// is sent only after both, so a write the client saw acknowledged is always in the stream.
/// </summary>
public sealed class ReplicatedExport : INbdExport, IDisposable
{
    readonly SafeFileHandle _file;
    readonly SemaphoreSlim _writeLock = new(1, 1);

    public ReplicatedExport(string name, string path, DiskStream stream, bool trackOnOverflow = true)
    {
        TrackOnOverflow = trackOnOverflow;
        Name = name;
        Path = path;
        Stream = stream;
        try
        {
            _file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"disk '{name}': cannot open '{path}' for read and write: {e.Message}", e);
        }
        Size = RandomAccess.GetLength(_file);
        Dirty = new DirtyRegions(Size, DirtyBlockSize);
    }

    /// <summary>Granularity of overflow tracking: what is re-read and sent for one dirty bit.</summary>
    public const int DirtyBlockSize = 64 * 1024;

    /// <summary>
    /// When the stream's buffer is full: true marks the region dirty and replies at source speed (the
    /// default: the protected machine's writes are never held hostage); false makes the writer wait.
    /// </summary>
    public bool TrackOnOverflow { get; }

    /// <summary>Regions written while the buffer was full; re-read from the source and sent by the dirty pass.</summary>
    public DirtyRegions Dirty { get; }

    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opens the export for I/O once the process server has said where the stream resumes.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>Raised (outside the lock) when a write went to the dirty map instead of the stream.</summary>
    public event Action? Overflowed;

    public string Name { get; }
    public string Path { get; }
    public long Size { get; }
    public bool ReadOnly => false;
    public DiskStream Stream { get; }

    /// <summary>The lock under which changes are applied and numbered; the resync scanner and bookmarks take it too.</summary>
    public SemaphoreSlim WriteLock => _writeLock;
    public SafeFileHandle Handle => _file;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        var n = RandomAccess.Read(_file, buffer.Span, offset);
        if (n < buffer.Length) buffer.Span[n..].Clear();
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        if (!TrackOnOverflow) await Stream.WaitForRoomAsync(data.Length, ct).ConfigureAwait(false);
        var overflowed = false;
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            RandomAccess.Write(_file, data.Span, offset);
            if (TrackOnOverflow && !Stream.HasRoom(data.Length)) { Dirty.Mark(offset, data.Length); overflowed = true; }
            else Stream.AppendWrite(offset, data);
        }
        finally { _writeLock.Release(); }
        // FUA: durable before the reply. The fsync runs outside the lock (it covers this write whatever follows it),
        // so other writers and a group hold do not wait behind a disk flush.
        if (fua) RandomAccess.FlushToDisk(_file);
        if (overflowed) Overflowed?.Invoke();
    }

    public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Zero, offset, length, fua, ct);

    public ValueTask TrimAsync(long offset, int length, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Trim, offset, length, false, ct);

    async ValueTask ZeroRangeAsync(DeltaKind kind, long offset, int length, bool fua, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        if (!TrackOnOverflow) await Stream.WaitForRoomAsync(0, ct).ConfigureAwait(false);
        var overflowed = false;
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            WriteZeroes(offset, length);
            if (TrackOnOverflow && !Stream.HasRoom(0)) { Dirty.Mark(offset, length); overflowed = true; }
            else Stream.Append(kind, offset, length, ReadOnlyMemory<byte>.Empty);
        }
        finally { _writeLock.Release(); }
        if (fua) RandomAccess.FlushToDisk(_file);
        if (overflowed) Overflowed?.Invoke();
    }

    /// <summary>
    /// Sends every dirty region again, read from the source under the write lock, so later writes
    /// always follow it in the stream. Waits for room in the buffer between blocks. Returns the
    /// number of blocks sent; the map is empty when it returns unless new overflows happened.
    /// </summary>
    public async Task<long> DrainDirtyAsync(CancellationToken ct)
    {
        var buffer = new byte[DirtyBlockSize];
        long sent = 0;
        while (Dirty.Count > 0)
        {
            await Stream.WaitForRoomAsync(DirtyBlockSize, ct).ConfigureAwait(false);
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (!Dirty.TryTakeNext(out var offset)) break;
                var n = (int)Math.Min(DirtyBlockSize, Size - offset);
                var block = buffer.AsSpan(0, n);
                var read = RandomAccess.Read(_file, block, offset);
                if (read < n) block[read..].Clear();
                if (block.IndexOfAnyExcept((byte)0) < 0) Stream.Append(DeltaKind.Zero, offset, n, ReadOnlyMemory<byte>.Empty);
                else Stream.AppendWrite(offset, buffer.AsMemory(0, n));
                sent++;
            }
            finally { _writeLock.Release(); }
        }
        return sent;
    }

    void WriteZeroes(long offset, int length)
    {
        var zeros = new byte[Math.Min(length, 1 << 20)];
        for (long done = 0; done < length;)
        {
            var n = (int)Math.Min(zeros.Length, length - done);
            RandomAccess.Write(_file, zeros.AsSpan(0, n), offset + done);
            done += n;
        }
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        RandomAccess.FlushToDisk(_file);
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        _file.Dispose();
        _writeLock.Dispose();
    }
}
