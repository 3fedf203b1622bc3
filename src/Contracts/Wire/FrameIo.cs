using System.Buffers.Binary;

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
        var header = new byte[5];
        BinaryPrimitives.WriteInt32LittleEndian(header, body.Length);
        header[4] = (byte)type;
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
        var header = new byte[5 + DataPath.DeltaCodec.FixedHeaderSize + idLength];
        BinaryPrimitives.WriteInt32LittleEndian(header, DataPath.DeltaCodec.FixedHeaderSize + idLength + delta.Payload.Length);
        header[4] = (byte)FrameType.Delta;
        DataPath.DeltaCodec.EncodeHeader(delta, delta.Payload.Length, compressed: false, header.AsSpan(5));
        await stream.WriteAsync(header, ct).ConfigureAwait(false);
        if (!delta.Payload.IsEmpty) await stream.WriteAsync(delta.Payload, ct).ConfigureAwait(false);
    }

    /// <summary>Reads one frame; null at a clean end of stream between frames.</summary>
    public static async ValueTask<(FrameType Type, byte[] Body)?> ReadAsync(Stream stream, CancellationToken ct)
    {
        var header = new byte[5];
        int got = 0;
        while (got < header.Length)
        {
            var n = await stream.ReadAsync(header.AsMemory(got), ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (got == 0) return null;
                throw new EndOfStreamException($"connection closed inside a frame header ({got} of 5 bytes)");
            }
            got += n;
        }
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 0 || length > MaxFrame) throw new InvalidDataException($"frame length {length} is outside 0..{MaxFrame}");
        var type = (FrameType)header[4];
        if (type is not (FrameType.Delta or FrameType.Control)) throw new InvalidDataException($"frame type {header[4]} is unknown");
        var body = GC.AllocateUninitializedArray<byte>(length);
        await stream.ReadExactlyAsync(body, ct).ConfigureAwait(false);
        return (type, body);
    }
}
