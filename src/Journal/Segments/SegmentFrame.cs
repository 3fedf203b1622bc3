using System.Buffers.Binary;
using System.IO.Hashing;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// On-disk framing of one record: u32 length, u64 XxHash3 of the record bytes, record bytes (little endian).
/// The hash is over the record only so a frame can be verified without knowing its sequence. A reused
/// (recycled) file seeds the hash with its first sequence, so frames left over from the file's earlier life
/// never pass for records of its new one; files that are never reused use seed 0.
/// </summary>
internal static class SegmentFrame
{
    public const int HeaderSize = 12;

    public static void WriteHeader(Span<byte> header, ReadOnlySpan<byte> record, long seed)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)record.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header[4..], XxHash3.HashToUInt64(record, seed));
    }

    public static bool Matches(ReadOnlySpan<byte> record, ulong hash, long seed) => XxHash3.HashToUInt64(record, seed) == hash;
}
