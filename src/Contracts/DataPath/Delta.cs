using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace SiteRecovery.Contracts.DataPath;

/// <summary>
/// One entry of a disk's ordered replication stream. Sequence numbers of one disk start at 1
/// and have no gaps; the order of sequences is the order the writes were applied at the source.
/// <see cref="Checksum"/> covers the header fields and the uncompressed payload, so a delta that
/// was damaged anywhere between the agent and the replica is detected before it is applied.
/// </summary>
public sealed record Delta(
    string DiskId,
    long Sequence,
    DeltaKind Kind,
    long Offset,
    int Length,
    ReadOnlyMemory<byte> Payload,
    long TimeUnixMs,
    ulong Checksum)
{
    /// <summary>Builds a delta and computes its checksum.</summary>
    public static Delta Create(string diskId, long sequence, DeltaKind kind, long offset, int length, ReadOnlyMemory<byte> payload, long timeUnixMs)
        => new(diskId, sequence, kind, offset, length, payload, timeUnixMs, ComputeChecksum(diskId, sequence, kind, offset, length, payload.Span, timeUnixMs));

    /// <summary>A bookmark marker carrying <paramref name="bookmarkId"/>.</summary>
    public static Delta Bookmark(string diskId, long sequence, string bookmarkId, long timeUnixMs)
        => Create(diskId, sequence, DeltaKind.Bookmark, 0, 0, Encoding.UTF8.GetBytes(bookmarkId), timeUnixMs);

    /// <summary>The bookmark id of a <see cref="DeltaKind.Bookmark"/> marker.</summary>
    public string BookmarkId => Kind == DeltaKind.Bookmark
        ? Encoding.UTF8.GetString(Payload.Span)
        : throw new InvalidOperationException($"delta {DiskId}#{Sequence} is a {Kind}, not a bookmark");

    /// <summary>True when the checksum matches the content.</summary>
    public bool IsIntact => Checksum == ComputeChecksum(DiskId, Sequence, Kind, Offset, Length, Payload.Span, TimeUnixMs);

    /// <summary>XxHash3 over the header fields followed by the payload.</summary>
    public static ulong ComputeChecksum(string diskId, long sequence, DeltaKind kind, long offset, int length, ReadOnlySpan<byte> payload, long timeUnixMs)
    {
        var hash = new XxHash3();
        Span<byte> header = stackalloc byte[29];
        BinaryPrimitives.WriteInt64LittleEndian(header, sequence);
        header[8] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(header[9..], offset);
        BinaryPrimitives.WriteInt32LittleEndian(header[17..], length);
        BinaryPrimitives.WriteInt64LittleEndian(header[21..], timeUnixMs);
        hash.Append(Encoding.UTF8.GetBytes(diskId));
        hash.Append(header);
        hash.Append(payload);
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>
    /// Checks the shape rules every delta must follow, whoever made it (no disk size: the range is only checked for
    /// overflow). The hops check against the disk with <see cref="DeltaValidation.Check"/>, which this calls.
    /// </summary>
    public string? Validate() => DeltaValidation.Check(this, long.MaxValue)?.Detail;
}
