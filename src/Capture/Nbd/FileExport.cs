using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// An <see cref="INbdExport"/> over a regular file or a block device, using positional I/O
/// (<see cref="RandomAccess"/>: pread/pwrite). Flush is fsync; FUA writes fsync before completing;
/// trim and write-zeroes write zeroes. Safe for concurrent use by several connections.
/// </summary>
public sealed class FileExport : INbdExport, IDisposable, IAsyncDisposable
{
    private const int ZeroChunk = 64 * 1024; // below the 85 KB LOH threshold
    private static readonly byte[] Zeroes = new byte[ZeroChunk];

    private readonly SafeFileHandle _handle;

    private FileExport(string path, string name, SafeFileHandle handle, long size, bool readOnly)
    {
        Path = path;
        Name = name;
        _handle = handle;
        Size = size;
        ReadOnly = readOnly;
    }

    /// <summary>The file or device path being served.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public long Size { get; }

    /// <inheritdoc />
    public bool ReadOnly { get; }

    /// <summary>Opens an existing file or block device as an export.</summary>
    /// <param name="path">Path of an existing regular file or block device.</param>
    /// <param name="name">Export name; defaults to the file name.</param>
    /// <param name="readOnly">Open read-only and advertise NBD_FLAG_READ_ONLY.</param>
    /// <exception cref="IOException">The path is missing, not accessible or its size cannot be determined; the message names the path and the reason.</exception>
    public static FileExport Open(string path, string? name = null, bool readOnly = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                FileShare.ReadWrite, FileOptions.None);
        }
        catch (FileNotFoundException ex)
        {
            throw new IOException($"Cannot open NBD export '{path}': the file does not exist.", ex);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new IOException($"Cannot open NBD export '{path}': a directory in the path does not exist.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException($"Cannot open NBD export '{path}' for {(readOnly ? "reading" : "reading and writing")}: permission denied ({ex.Message}).", ex);
        }
        catch (IOException ex)
        {
            throw new IOException($"Cannot open NBD export '{path}': {ex.Message}", ex);
        }

        try
        {
            var size = MeasureSize(path, handle);
            return new FileExport(path, name ?? System.IO.Path.GetFileName(path), handle, size, readOnly);
        }
        catch (Exception ex)
        {
            handle.Dispose();
            throw new IOException($"Cannot open NBD export '{path}': cannot determine its size ({ex.Message}).", ex);
        }
    }

    /// <summary>Creates (or truncates) a sparse file of <paramref name="size"/> bytes and opens it as a writable export.</summary>
    public static FileExport Create(string path, long size, string? name = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
            RandomAccess.SetLength(handle, size);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Cannot create NBD export file '{path}': {ex.Message}", ex);
        }
        return Open(path, name);
    }

    private static long MeasureSize(string path, SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        if (length > 0) return length;
        // Block devices report st_size 0; seeking to the end (on a separate descriptor) gives their size.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        return stream.CanSeek ? stream.Seek(0, SeekOrigin.End) : 0;
    }

    /// <inheritdoc />
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        while (buffer.Length > 0)
        {
            var n = await RandomAccess.ReadAsync(_handle, buffer, offset, ct).ConfigureAwait(false);
            if (n == 0)
            {
                // Past the current end of a file that shrank underneath us: read as zeroes.
                buffer.Span.Clear();
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        await RandomAccess.WriteAsync(_handle, data, offset, ct).ConfigureAwait(false);
        if (fua) Sync();
    }

    /// <inheritdoc />
    public async ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
    {
        await ZeroAsync(offset, length, ct).ConfigureAwait(false);
        if (fua) Sync();
    }

    /// <inheritdoc />
    public ValueTask TrimAsync(long offset, int length, CancellationToken ct) => ZeroAsync(offset, length, ct);

    /// <inheritdoc />
    public ValueTask FlushAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Sync();
        return ValueTask.CompletedTask;
    }

    private async ValueTask ZeroAsync(long offset, int length, CancellationToken ct)
    {
        while (length > 0)
        {
            var chunk = Math.Min(length, ZeroChunk);
            await RandomAccess.WriteAsync(_handle, Zeroes.AsMemory(0, chunk), offset, ct).ConfigureAwait(false);
            offset += chunk;
            length -= chunk;
        }
    }

    private void Sync() => RandomAccess.FlushToDisk(_handle);

    /// <summary>Closes the file.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Closes the file.</summary>
    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }
}
