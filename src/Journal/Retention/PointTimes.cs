namespace SiteRecovery.Journal.Retention;

/// <summary>
/// The two clocks of a retained point: when the master target received it (<see cref="ReceivedUnixMs"/>, its own
/// clock, which retention and time resolution go by; null for records journaled before receive times were kept) and
/// the agent's write stamp (<see cref="AgentTimeUnixMs"/>, shown beside it: the gap is the agent's clock skew plus
/// replication lag).
/// </summary>
public sealed record PointTimes(long Sequence, long? ReceivedUnixMs, long? AgentTimeUnixMs)
{
    /// <summary>The time the point goes by: its receive time, or the agent's stamp when it has none.</summary>
    public long? TimeUnixMs => ReceivedUnixMs ?? AgentTimeUnixMs;
}
