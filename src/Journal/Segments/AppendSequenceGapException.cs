namespace SiteRecovery.Journal.Segments;

/// <summary>
/// An append whose sequence is not exactly one past the last appended one. The log never accepts gaps or
/// repeats, because readers derive every record's sequence from its position.
/// </summary>
public sealed class AppendSequenceGapException(long expected, long actual)
    : Exception($"append of sequence {actual} refused: the log's next sequence is {expected} (last appended {expected - 1})")
{
    public long Expected { get; } = expected;
    public long Actual { get; } = actual;
}
