namespace SiteRecovery.Actors.Alerts;

/// <summary>Settings of the alerting (see <c>AddAlerting</c>).</summary>
/// <param name="DefaultRpoThreshold">RPO threshold of disks whose machine is in no protection group (or one without settings).</param>
/// <param name="CacheHighWaterPercent">Raise the cache alert when used ≥ this percentage of the process server's cache.</param>
/// <param name="CacheLowWaterPercent">Clear the cache alert only when used &lt; this percentage (hysteresis).</param>
/// <param name="EvaluationInterval">How often the evaluator runs the rules.</param>
/// <param name="SnapshotEvery">AlertMonitor snapshot cadence (persisted events).</param>
/// <param name="Clock">Now in Unix ms; null = the system clock (tests inject their own).</param>
public sealed record AlertSettings(
    TimeSpan DefaultRpoThreshold,
    double CacheHighWaterPercent,
    double CacheLowWaterPercent,
    TimeSpan EvaluationInterval,
    int SnapshotEvery = 100,
    Func<long>? Clock = null)
{
    public static AlertSettings Default { get; } = new(TimeSpan.FromMinutes(15), 80, 70, TimeSpan.FromSeconds(5));

    public long Now() => Clock is { } clock ? clock() : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting and the rule.</summary>
    public AlertSettings Validate()
    {
        if (DefaultRpoThreshold <= TimeSpan.Zero)
            throw new ArgumentException($"AlertSettings.DefaultRpoThreshold must be > 0 (was {DefaultRpoThreshold})");
        if (!(CacheHighWaterPercent > 0 && CacheHighWaterPercent <= 100))
            throw new ArgumentException($"AlertSettings.CacheHighWaterPercent must be in (0, 100] (was {CacheHighWaterPercent})");
        if (!(CacheLowWaterPercent > 0 && CacheLowWaterPercent <= CacheHighWaterPercent))
            throw new ArgumentException(
                $"AlertSettings.CacheLowWaterPercent must be in (0, CacheHighWaterPercent={CacheHighWaterPercent}] (was {CacheLowWaterPercent})");
        if (EvaluationInterval <= TimeSpan.Zero)
            throw new ArgumentException($"AlertSettings.EvaluationInterval must be > 0 (was {EvaluationInterval})");
        if (SnapshotEvery <= 0)
            throw new ArgumentException($"AlertSettings.SnapshotEvery must be > 0 (was {SnapshotEvery})");
        return this;
    }
}
