namespace SiteRecovery.Journal.Resync;

/// <summary>
/// A time resolved to a sequence of a disk. <see cref="ClampedFrom"/>: the sequence the time named, when it fell inside a
/// resync and <see cref="Sequence"/> is the last state before that resync; <see cref="Note"/> says so in words.
/// </summary>
public sealed record ResolvedTime(long Sequence, long? ClampedFrom, string? Note)
{
    /// <summary>When the master target received the point (its clock, which resolved the time); null for records from before receive times were kept.</summary>
    public long? ReceivedUnixMs { get; init; }
    /// <summary>The agent's write stamp of the point, shown beside the receive time.</summary>
    public long? AgentTimeUnixMs { get; init; }
}
