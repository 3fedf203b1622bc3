namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// Length-prefixed frames: u32 body length (little endian), u8 frame type, body.
/// A frame larger than <see cref="MaxFrame"/> or of an unknown type ends the connection with a clear error.
/// </summary>
public static class FrameIo
{
    public const int MaxFrame = 40 * 1024 * 1024;

    public static async ValueTask WriteAsync(Stream stream, FrameType type, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var header = new byte[FrameHeader.Size];
        FrameHeader.Write(header, body.Length, type);
        await stream.WriteAsync(header, ct).ConfigureAwait(false);
        await stream.WriteAsync(body, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes a delta frame with its payload uncompressed, straight from the delta's memory: no
    /// intermediate record array. The bytes are those of <see cref="DataPath.DeltaCodec.Encode(DataPath.Delta)"/>.
    /// </summary>
    public static async ValueTask WriteDeltaAsync(Stream stream, DataPath.Delta delta, CancellationToken ct)
    {
        var idLength = System.Text.Encoding.UTF8.GetByteCount(delta.DiskId);
        var header = new byte[FrameHeader.Size + DataPath.DeltaCodec.FixedHeaderSize + idLength];
        FrameHeader.Write(header, DataPath.DeltaCodec.FixedHeaderSize + idLength + delta.Payload.Length, FrameType.Delta);
        DataPath.DeltaCodec.EncodeHeader(delta, delta.Payload.Length, compressed: false, header.AsSpan(FrameHeader.Size));
        await stream.WriteAsync(header, ct).ConfigureAwait(false);
        if (!delta.Payload.IsEmpty) await stream.WriteAsync(delta.Payload, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one frame of at most <paramref name="maxFrame"/> bytes and nothing after it; null at a clean end of stream
    /// between frames. Its body is allocated as its bytes arrive (see <see cref="FrameReader"/>).
    /// </summary>
    public static ValueTask<(FrameType Type, byte[] Body)?> ReadAsync(Stream stream, CancellationToken ct, int maxFrame = MaxFrame) =>
        // A read buffer of one header: the reader takes the header and the body from the stream and not a byte more.
        new FrameReader(stream, FrameHeader.Size) { MaxFrame = maxFrame }.ReadAsync(ct);
}
