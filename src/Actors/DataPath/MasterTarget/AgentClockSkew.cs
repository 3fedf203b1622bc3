namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// How far a disk's agent clock is from the master target's: at each commit, the newest agent stamp of the records
/// committed against the master target's clock at that moment (its "lead"; replication lag only lowers it, so the
/// largest lead over a recent period is the closest estimate of the skew). A positive estimate is the agent's clock
/// ahead by at least that much; a negative one is the agent behind, or every record of the period lagging by that much
/// (a backlog older than the bound being drained after an outage reads as an agent behind until it is caught up).
/// </summary>
/// <remarks>Observe and Committed are called by the disk's writer (under its gate); <see cref="Estimate"/> by the retention pass.</remarks>
public sealed class AgentClockSkew
{
    private readonly object _gate = new();
    private readonly Queue<(long AtUnixMs, long LeadMs)> _samples = new();
    private long? _batchNewest;

    /// <summary>A record stamped <paramref name="agentTimeUnixMs"/> by the agent was appended.</summary>
    public void Observe(long agentTimeUnixMs)
    {
        lock (_gate) _batchNewest = _batchNewest is { } n ? Math.Max(n, agentTimeUnixMs) : agentTimeUnixMs;
    }

    /// <summary>The records observed since the last commit are durable at <paramref name="nowUnixMs"/> (the master target's clock).</summary>
    public void Committed(long nowUnixMs)
    {
        lock (_gate)
        {
            if (_batchNewest is not { } newest) return;
            _samples.Enqueue((nowUnixMs, newest - nowUnixMs));
            _batchNewest = null;
            while (_samples.Count > 4096) _samples.Dequeue();
        }
    }

    /// <summary>
    /// The skew estimate (agent − master target, ms) over the commits of the last <paramref name="period"/>, or null when
    /// nothing was committed in it (an idle disk says nothing new about its agent's clock).
    /// </summary>
    public long? Estimate(long nowUnixMs, TimeSpan period)
    {
        lock (_gate)
        {
            var from = nowUnixMs - (long)period.TotalMilliseconds;
            while (_samples.TryPeek(out var s) && s.AtUnixMs < from) _samples.Dequeue();
            return _samples.Count == 0 ? null : _samples.Max(s => s.LeadMs);
        }
    }
}
