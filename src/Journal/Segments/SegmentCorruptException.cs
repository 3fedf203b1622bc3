namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Damage inside a segment file that cannot be explained as a torn tail: names the file, byte offset and the
/// sequence the damaged frame should hold so the file can be inspected or restored.
/// </summary>
public sealed class SegmentCorruptException(string file, long offset, long sequence, string reason)
    : Exception($"segment file '{file}' is corrupt at offset {offset} (sequence {sequence}): {reason}")
{
    public string File { get; } = file;
    public long Offset { get; } = offset;
    public long Sequence { get; } = sequence;
    public string Reason { get; } = reason;
}
