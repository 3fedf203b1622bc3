namespace SiteRecovery.Journal.Retention;

/// <summary>
/// The points a disk can be recovered to: every sequence from <see cref="OldestSequence"/> (the base) through
/// <see cref="NewestSequence"/> (durable). Times are the agent's write times; <see cref="OldestTimeUnixMs"/> is the
/// earliest timestamp that resolves (null when the disk has no write yet).
/// </summary>
public sealed record RetentionWindow(long OldestSequence, long? OldestTimeUnixMs, long NewestSequence, long? NewestTimeUnixMs)
{
    public override string ToString()
        => $"#{OldestSequence}{At(OldestTimeUnixMs)} .. #{NewestSequence}{At(NewestTimeUnixMs)}";

    private static string At(long? ms) => ms is { } t ? $" ({DateTimeOffset.FromUnixTimeMilliseconds(t).UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ})" : "";
}
