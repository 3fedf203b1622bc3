namespace SiteRecovery.Capture;

/// <summary>
/// A block-addressable byte range served by <see cref="Nbd.NbdServer"/> as one NBD export.
/// The server validates every offset and length against <see cref="Size"/> (and rejects writes to
/// read-only exports) before calling the export, so implementations may assume all ranges are valid.
/// Requests of one connection reach the export one at a time, in the order the client sent them;
/// different connections may call the export concurrently. One export serves all of them: a read sees every
/// write completed on any connection, and <see cref="FlushAsync"/> covers them all, which is what lets the
/// server advertise NBD_FLAG_CAN_MULTI_CONN (clients such as nbdcopy then open several connections).
/// </summary>
public interface INbdExport
{
    /// <summary>The export name clients ask for (NBD_OPT_GO / NBD_OPT_EXPORT_NAME).</summary>
    string Name { get; }

    /// <summary>Size of the export in bytes; constant for the lifetime of the export.</summary>
    long Size { get; }

    /// <summary>
    /// True when the export refuses writes, zeroing and trimming (advertised as NBD_FLAG_READ_ONLY). It may change while
    /// clients are connected: connections read it per request and answer a refused change with NBD_EPERM; an export that
    /// turns read-only between that check and the change throws <see cref="Nbd.ExportReadOnlyException"/> (also NBD_EPERM).
    /// </summary>
    bool ReadOnly { get; }

    /// <summary>Fills <paramref name="buffer"/> entirely with the bytes at <paramref name="offset"/>.</summary>
    /// <param name="offset">Byte offset; <c>offset + buffer.Length &lt;= Size</c>.</param>
    /// <param name="buffer">Destination; must be filled completely.</param>
    /// <param name="ct">Cancelled when the connection or server shuts down.</param>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct);

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/>. <paramref name="data"/> may be a pooled
    /// buffer that the server reuses as soon as the returned task completes: an export that keeps the bytes must copy them.
    /// </summary>
    /// <param name="offset">Byte offset; <c>offset + data.Length &lt;= Size</c>.</param>
    /// <param name="data">Payload to write (valid only until the call completes).</param>
    /// <param name="fua">Force unit access: the data must be durable before the task completes.</param>
    /// <param name="ct">Cancelled when the connection or server shuts down.</param>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct);

    /// <summary>Makes <paramref name="length"/> bytes at <paramref name="offset"/> read back as zeroes.</summary>
    /// <param name="offset">Byte offset; <c>offset + length &lt;= Size</c>.</param>
    /// <param name="length">Number of bytes, at least 1.</param>
    /// <param name="fua">Force unit access: the zeroes must be durable before the task completes.</param>
    /// <param name="ct">Cancelled when the connection or server shuts down.</param>
    ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct);

    /// <summary>
    /// Hints that <paramref name="length"/> bytes at <paramref name="offset"/> are no longer needed.
    /// Afterwards the range may read back as anything (zeroes are a safe choice).
    /// </summary>
    /// <param name="offset">Byte offset; <c>offset + length &lt;= Size</c>.</param>
    /// <param name="length">Number of bytes, at least 1.</param>
    /// <param name="ct">Cancelled when the connection or server shuts down.</param>
    ValueTask TrimAsync(long offset, int length, CancellationToken ct);

    /// <summary>Makes every write that has completed so far, on any connection, durable (NBD_CMD_FLUSH).</summary>
    /// <param name="ct">Cancelled when the connection or server shuts down.</param>
    ValueTask FlushAsync(CancellationToken ct);
}
