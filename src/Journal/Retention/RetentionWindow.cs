namespace SiteRecovery.Journal.Retention;

/// <summary>
/// The points a disk can be recovered to: every sequence from <see cref="OldestSequence"/> (the base) through
/// <see cref="NewestSequence"/> (durable). <see cref="OldestTimeUnixMs"/> and <see cref="NewestTimeUnixMs"/> are the master
/// target's receive times (its clock, which the window and time resolution go by; for records journaled before receive
/// times were kept, the agent's write time: <see cref="OldestReceived"/> / <see cref="NewestReceived"/> say which);
/// <see cref="OldestTimeUnixMs"/> is the earliest timestamp that resolves (null when the disk has no write yet). The
/// agent's stamps of the same points are beside them.
/// </summary>
public sealed record RetentionWindow(long OldestSequence, long? OldestTimeUnixMs, long NewestSequence, long? NewestTimeUnixMs)
{
    /// <summary>The agent's write time of the oldest point (the highest through the base).</summary>
    public long? OldestAgentTimeUnixMs { get; init; }
    /// <summary>The agent's write time of the newest point.</summary>
    public long? NewestAgentTimeUnixMs { get; init; }
    /// <summary>True when <see cref="OldestTimeUnixMs"/> is a receive time (false: the agent's, for older data).</summary>
    public bool OldestReceived { get; init; }
    /// <summary>True when <see cref="NewestTimeUnixMs"/> is a receive time (false: the agent's, for older data).</summary>
    public bool NewestReceived { get; init; }

    public override string ToString()
        => $"#{OldestSequence}{At(OldestTimeUnixMs)} .. #{NewestSequence}{At(NewestTimeUnixMs)}";

    private static string At(long? ms) => ms is { } t ? $" ({DateTimeOffset.FromUnixTimeMilliseconds(t).UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ})" : "";
}
