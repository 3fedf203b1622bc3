namespace SiteRecovery.Journal.Resync;

/// <summary>
/// A time resolved to a sequence of a disk. <see cref="ClampedFrom"/>: the sequence the time named, when it fell inside a
/// resync and <see cref="Sequence"/> is the last state before that resync; <see cref="Note"/> says so in words.
/// </summary>
public sealed record ResolvedTime(long Sequence, long? ClampedFrom, string? Note);
