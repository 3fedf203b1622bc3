using System.Buffers.Binary;
using System.IO.Hashing;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// On-disk framing of one record: u32 length, u64 XxHash3 of the record bytes, record bytes (little endian).
/// The hash is over the record only so a frame can be verified without knowing its sequence.
/// </summary>
internal static class SegmentFrame
{
    public const int HeaderSize = 12;

    public static void WriteHeader(Span<byte> header, ReadOnlySpan<byte> record)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)record.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header[4..], XxHash3.HashToUInt64(record));
    }
}
