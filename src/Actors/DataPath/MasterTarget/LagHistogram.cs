namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Replication lag samples (milliseconds from the agent's acknowledgement of a write to the write being
/// durable at the replica), kept in 1 ms buckets up to a minute plus an overflow count: constant memory,
/// exact enough for p50/p99 at the scale RPO is discussed.
/// </summary>
public sealed class LagHistogram
{
    const int Buckets = 60_000;
    readonly long[] _counts = new long[Buckets + 1];
    readonly object _gate = new();
    long _total;
    long _max;

    public void Record(IReadOnlyList<long> samples)
    {
        lock (_gate)
        {
            foreach (var s in samples)
            {
                var v = Math.Max(0, s);
                _counts[Math.Min(v, Buckets)]++;
                _total++;
                if (v > _max) _max = v;
            }
        }
    }

    public LagSummary Snapshot(bool reset)
    {
        lock (_gate)
        {
            var summary = new LagSummary(_total, Percentile(0.50), Percentile(0.99), _max);
            if (reset)
            {
                Array.Clear(_counts);
                _total = 0;
                _max = 0;
            }
            return summary;
        }
    }

    long Percentile(double q)
    {
        if (_total == 0) return 0;
        var rank = (long)Math.Ceiling(q * _total);
        long seen = 0;
        for (var i = 0; i <= Buckets; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return i;
        }
        return _max;
    }
}

/// <summary>Lag percentiles in milliseconds over <see cref="Count"/> deltas.</summary>
public sealed record LagSummary(long Count, long P50Ms, long P99Ms, long MaxMs);
