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

    public ReplicatedExport(string name, string path, DiskStream stream)
    {
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
    }

    public string Name { get; }
    public string Path { get; }
    public long Size { get; }
    public bool ReadOnly => false;
    public DiskStream Stream { get; }

    /// <summary>The lock under which changes are applied and numbered; the resync scanner and bookmarks take it too.</summary>
    public SemaphoreSlim WriteLock => _writeLock;
    public SafeFileHandle Handle => _file;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        var n = RandomAccess.Read(_file, buffer.Span, offset);
        if (n < buffer.Length) buffer.Span[n..].Clear();
        return ValueTask.CompletedTask;
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        await Stream.WaitForRoomAsync(data.Length, ct).ConfigureAwait(false);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            RandomAccess.Write(_file, data.Span, offset);
            Stream.AppendWrite(offset, data);
            if (fua) RandomAccess.FlushToDisk(_file);
        }
        finally { _writeLock.Release(); }
    }

    public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Zero, offset, length, fua, ct);

    public ValueTask TrimAsync(long offset, int length, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Trim, offset, length, false, ct);

    async ValueTask ZeroRangeAsync(DeltaKind kind, long offset, int length, bool fua, CancellationToken ct)
    {
        await Stream.WaitForRoomAsync(0, ct).ConfigureAwait(false);
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            WriteZeroes(offset, length);
            Stream.Append(kind, offset, length, ReadOnlyMemory<byte>.Empty);
            if (fua) RandomAccess.FlushToDisk(_file);
        }
        finally { _writeLock.Release(); }
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
