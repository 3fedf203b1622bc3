using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SiteRecovery.Contracts.DataPath;

/// <summary>
/// The binary form of a delta, used on the wire and in spool and segment files.
/// Layout (little endian): version u8, kind u8, flags u8, diskIdLen u8, sequence i64, offset i64,
/// length i32, time i64, checksum u64, storedLen i32, diskId bytes, stored payload bytes.
/// The stored payload is the payload as-is, or zstd-compressed when <see cref="FlagCompressed"/> is set
/// (compression lives in the Journal project; this codec only carries the flag).
/// </summary>
public static class DeltaCodec
{
    public const byte Version = 1;
    public const byte FlagCompressed = 1;
    public const int FixedHeaderSize = 4 + 8 + 8 + 4 + 8 + 8 + 4;
    /// <summary>A delta never carries more than this; NBD requests are capped lower.</summary>
    public const int MaxPayload = 32 * 1024 * 1024;

    public static int EncodedSize(Delta d, int storedLength) => FixedHeaderSize + Encoding.UTF8.GetByteCount(d.DiskId) + storedLength;

    /// <summary>Writes <paramref name="delta"/> with <paramref name="storedPayload"/> in place of its payload.</summary>
    public static void Encode(Delta delta, ReadOnlySpan<byte> storedPayload, bool compressed, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(FixedHeaderSize + Encoding.UTF8.GetByteCount(delta.DiskId) + storedPayload.Length);
        var header = EncodeHeader(delta, storedPayload.Length, compressed, span);
        storedPayload.CopyTo(span[header..]);
        output.Advance(header + storedPayload.Length);
    }

    /// <summary>Writes the fixed header and disk id (everything but the stored payload) into <paramref name="span"/>; returns the bytes written.</summary>
    public static int EncodeHeader(Delta delta, int storedLength, bool compressed, Span<byte> span)
    {
        var idLength = Encoding.UTF8.GetByteCount(delta.DiskId);
        if (idLength > 255) throw new ArgumentException($"disk id '{delta.DiskId}' is longer than 255 bytes");
        span[0] = Version;
        span[1] = (byte)delta.Kind;
        span[2] = compressed ? FlagCompressed : (byte)0;
        span[3] = (byte)idLength;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], delta.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], delta.Offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], delta.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], delta.TimeUnixMs);
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], delta.Checksum);
        BinaryPrimitives.WriteInt32LittleEndian(span[40..], storedLength);
        Encoding.UTF8.GetBytes(delta.DiskId, span[FixedHeaderSize..]);
        return FixedHeaderSize + idLength;
    }

    /// <summary>Encodes a delta with its payload uncompressed.</summary>
    public static byte[] Encode(Delta delta)
    {
        var w = new ArrayBufferWriter<byte>(EncodedSize(delta, delta.Payload.Length));
        Encode(delta, delta.Payload.Span, false, w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Decodes one delta occupying all of <paramref name="data"/>. The returned delta's payload is the
    /// stored payload (still compressed when <paramref name="compressed"/> is true) and refers to
    /// <paramref name="data"/>. Throws <see cref="DeltaFormatException"/> naming what is wrong.
    /// </summary>
    public static Delta Decode(ReadOnlyMemory<byte> data, out bool compressed)
    {
        var span = data.Span;
        if (span.Length < FixedHeaderSize) throw new DeltaFormatException($"delta record is {span.Length} bytes, shorter than its {FixedHeaderSize}-byte header");
        if (span[0] != Version) throw new DeltaFormatException($"delta record version {span[0]} is not {Version}");
        var kind = (DeltaKind)span[1];
        if (kind is < DeltaKind.Write or > DeltaKind.Bookmark) throw new DeltaFormatException($"delta kind {span[1]} is unknown");
        if ((span[2] & ~FlagCompressed) != 0) throw new DeltaFormatException($"delta flags 0x{span[2]:x2} has unknown bits");
        compressed = (span[2] & FlagCompressed) != 0;
        int idLen = span[3];
        var seq = BinaryPrimitives.ReadInt64LittleEndian(span[4..]);
        var offset = BinaryPrimitives.ReadInt64LittleEndian(span[12..]);
        var length = BinaryPrimitives.ReadInt32LittleEndian(span[20..]);
        var time = BinaryPrimitives.ReadInt64LittleEndian(span[24..]);
        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(span[32..]);
        var stored = BinaryPrimitives.ReadInt32LittleEndian(span[40..]);
        if (stored < 0 || stored > MaxPayload) throw new DeltaFormatException($"delta #{seq} stored payload length {stored} is outside 0..{MaxPayload}");
        if (length < 0 || length > MaxPayload) throw new DeltaFormatException($"delta #{seq} length {length} is outside 0..{MaxPayload}");
        if (FixedHeaderSize + idLen + stored != span.Length)
            throw new DeltaFormatException($"delta #{seq} record is {span.Length} bytes but its header says {FixedHeaderSize + idLen + stored}");
        var diskId = Encoding.UTF8.GetString(span.Slice(FixedHeaderSize, idLen));
        var payload = data.Slice(FixedHeaderSize + idLen, stored);
        return new Delta(diskId, seq, kind, offset, length, payload, time, checksum);
    }
}

/// <summary>A delta record or frame that cannot be decoded; the message says what is wrong.</summary>
public sealed class DeltaFormatException(string message) : Exception(message);
