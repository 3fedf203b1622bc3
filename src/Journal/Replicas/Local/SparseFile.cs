using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Journal.Replicas.Local;

/// <summary>
/// Positional I/O on a fixed-size (sparse) file: the shared mechanics of the local replica store and of point-in-time
/// images. Positional calls (pread/pwrite) keep concurrent readers from fighting over a file position.
/// </summary>
internal static class SparseFile
{
    /// <summary>Zeroes are written from one shared buffer; 1 MiB keeps big zero ranges at few syscalls.</summary>
    private static readonly byte[] Zeroes = new byte[1024 * 1024];

    public static async ValueTask ZeroAsync(SafeFileHandle handle, long offset, long length, CancellationToken ct)
    {
        while (length > 0)
        {
            var n = (int)Math.Min(length, Zeroes.Length);
            await RandomAccess.WriteAsync(handle, Zeroes.AsMemory(0, n), offset, ct).ConfigureAwait(false);
            offset += n;
            length -= n;
        }
    }

    public static async ValueTask ReadExactlyAsync(SafeFileHandle handle, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        while (buffer.Length > 0)
        {
            var n = await RandomAccess.ReadAsync(handle, buffer, offset, ct).ConfigureAwait(false);
            if (n == 0)
            {
                // Past the physical end of a sparse file reads as zeroes, like the disk would.
                buffer.Span.Clear();
                return;
            }
            buffer = buffer[n..];
            offset += n;
        }
    }
}
