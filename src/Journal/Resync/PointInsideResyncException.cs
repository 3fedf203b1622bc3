namespace SiteRecovery.Journal.Resync;

/// <summary>
/// A point was named (bookmark marker, sequence, time, export) inside a resync of its disk: the disk as of that
/// sequence is a mix of old and resent blocks that the source never had. <see cref="Retryable"/> when the resync still
/// runs (a bookmark asked again after it ends succeeds).
/// </summary>
public sealed class PointInsideResyncException(string diskId, long sequence, ResyncRange range)
    : InvalidOperationException(Describe(diskId, sequence, range))
{
    public string DiskId { get; } = diskId;
    public long Sequence { get; } = sequence;
    public ResyncRange Range { get; } = range;
    public bool Retryable => Range.To is null;

    static string Describe(string diskId, long sequence, ResyncRange range) =>
        $"disk {diskId}: #{sequence} is inside a {range}, so the disk as of it never existed at the source; " +
        (range.To is null
            ? $"retry once the resync completes, or choose a point before #{range.From}"
            : $"choose a point before #{range.From} or from #{range.To} on");
}
