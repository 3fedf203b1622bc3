namespace SiteRecovery.Journal.Segments;

/// <summary>What <see cref="SegmentLog.Open"/> found and changed while recovering the directory.</summary>
/// <param name="FirstSequence">Lowest sequence held after recovery (0 if none).</param>
/// <param name="LastSequence">Highest sequence held after recovery.</param>
/// <param name="TruncatedFile">The active file whose tail was cut, or null if nothing was cut.</param>
/// <param name="TruncatedAtOffset">Byte offset the file was cut at (the end of its last valid frame).</param>
/// <param name="BytesCut">How many bytes were removed.</param>
/// <param name="Reason">Why the first dropped frame was rejected (torn, bad length, checksum).</param>
/// <param name="Actions">Other repairs, such as sealing an active file left behind by an interrupted rotation.</param>
public sealed record RecoveryReport(
    long FirstSequence,
    long LastSequence,
    string? TruncatedFile,
    long TruncatedAtOffset,
    long BytesCut,
    string? Reason,
    IReadOnlyList<string> Actions)
{
    /// <summary>True when a torn or corrupt tail was cut off.</summary>
    public bool Truncated => TruncatedFile is not null;
}
