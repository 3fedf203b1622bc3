namespace SiteRecovery.Journal.Retention;

/// <summary>How long a disk's points are kept and how often checkpoint indexes are written.</summary>
public sealed record RetentionOptions
{
    /// <summary>Points older than this (by the agent's write time) are dropped with their data; null keeps everything.</summary>
    public TimeSpan? Window { get; init; } = TimeSpan.FromHours(24);

    /// <summary>A checkpoint index is written after this many bytes of writes/zeroes since the previous one.</summary>
    public long CheckpointIntervalBytes { get; init; } = 256L << 20;

    /// <summary>…or after this long, if anything changed at all.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);

    public void Validate()
    {
        if (Window is { } w && w <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Window), w, "retention window must be positive");
        if (CheckpointIntervalBytes < 1) throw new ArgumentOutOfRangeException(nameof(CheckpointIntervalBytes), CheckpointIntervalBytes, "must be positive");
        if (CheckpointInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), CheckpointInterval, "must be positive");
    }
}
