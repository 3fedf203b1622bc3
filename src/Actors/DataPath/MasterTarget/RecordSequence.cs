namespace SiteRecovery.Actors.DataPath;

/// <summary>What one validated delta record does to its disk at the master target.</summary>
public enum RecordStep
{
    /// <summary>The next sequence: journaled, then applied to the replica.</summary>
    Apply,
    /// <summary>At or below what the disk holds: a resend overlap after a reconnection, dropped without a word.</summary>
    SkipResend,
    /// <summary>Past the next sequence: a gap; the process server is told to resend from the disk's next one.</summary>
    Nak,
}

/// <summary>
/// The per-disk order rule, pure so it is tested on its own: a disk takes its records strictly in sequence, one after
/// the last it applied, so its journal and replica never hold a gap or a record twice.
/// </summary>
public static class RecordSequence
{
    public static RecordStep Decide(long appliedThrough, long sequence) =>
        sequence <= appliedThrough ? RecordStep.SkipResend
        : sequence == appliedThrough + 1 ? RecordStep.Apply
        : RecordStep.Nak;
}
