namespace SiteRecovery.Journal.Retention;

/// <summary>How long a disk's points are kept and how often checkpoint indexes are written.</summary>
public sealed record RetentionOptions
{
    /// <summary>Points older than this (by the master target's receive time; see <see cref="ReceiveTimeIndex"/>) are dropped with their data; null keeps everything.</summary>
    public TimeSpan? Window { get; init; } = TimeSpan.FromHours(24);

    /// <summary>A checkpoint index is written after this many bytes of writes/zeroes since the previous one.</summary>
    public long CheckpointIntervalBytes { get; init; } = 256L << 20;

    /// <summary>…or after this long, if anything changed at all.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A receive-time sample is written at most about this often, plus one at each pause in the stream this long (the
    /// others wait in memory): inside a burst a point ages out and resolves at most this much late; a crash stamps the
    /// records after the last written sample with the reopen's time. Zero: every commit.
    /// </summary>
    public TimeSpan ReceiveTimeSampleInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public void Validate()
    {
        if (ReceiveTimeSampleInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReceiveTimeSampleInterval), ReceiveTimeSampleInterval, "must not be negative");
        if (Window is { } w && w <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Window), w, "retention window must be positive");
        if (CheckpointIntervalBytes < 1) throw new ArgumentOutOfRangeException(nameof(CheckpointIntervalBytes), CheckpointIntervalBytes, "must be positive");
        if (CheckpointInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), CheckpointInterval, "must be positive");
    }
}
