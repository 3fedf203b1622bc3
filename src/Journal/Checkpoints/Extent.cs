using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Checkpoints;

/// <summary>What a range of the disk reads as at a point: bytes of a journal record, or zeroes.</summary>
public enum ExtentKind : byte
{
    /// <summary>Bytes of the write record at <see cref="Extent.Location"/>, starting <see cref="Extent.DataOffset"/> into its payload.</summary>
    Data = 1,
    /// <summary>Zeroes (a Zero or Trim delta).</summary>
    Zero = 2,
}

/// <summary>
/// One range of the disk whose content at a point comes from the journal record <see cref="Sequence"/> (the last one
/// at or below the point that touched it). Ranges absent from a map read from the base image.
/// </summary>
public readonly record struct Extent(long Start, long Length, long Sequence, ExtentKind Kind, RecordLocation Location, int DataOffset)
{
    public long End => Start + Length;

    /// <summary>The part of this extent from <paramref name="from"/> to <paramref name="to"/> (both inside it).</summary>
    public Extent Slice(long from, long to)
        => this with { Start = from, Length = to - from, DataOffset = Kind == ExtentKind.Data ? DataOffset + (int)(from - Start) : 0 };
}
