namespace SiteRecovery.Journal.Segments;

/// <summary>A read asked for sequences the log no longer holds (trimmed) or never held.</summary>
public sealed class SequenceNotHeldException(long requested, long firstHeld, long lastHeld)
    : Exception($"sequence {requested} is not held by the log (it holds {(firstHeld == 0 ? "nothing" : $"{firstHeld}..{lastHeld}")})")
{
    public long Requested { get; } = requested;
    public long FirstHeld { get; } = firstHeld;
    public long LastHeld { get; } = lastHeld;
}
