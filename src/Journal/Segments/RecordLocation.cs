namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Where one record lives in a <see cref="SegmentLog"/>: the first sequence of its segment file (stable across the
/// rename that seals the file) and the byte offset of its frame.
/// </summary>
public readonly record struct RecordLocation(long SegmentFirst, long Offset);

/// <summary>A record read with its sequence and location.</summary>
public readonly record struct LocatedRecord(long Sequence, RecordLocation Location, ReadOnlyMemory<byte> Record);
