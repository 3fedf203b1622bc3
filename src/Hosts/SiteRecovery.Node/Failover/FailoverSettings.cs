using Akka.Configuration;

namespace SiteRecovery.Node.Failover;

/// <summary>The node's failover settings (<c>hocon/failover.hocon</c>, overridden by <c>--config</c>), checked at start-up.</summary>
public sealed record FailoverSettings(string ScriptsDirectory, string BootMarker, TimeSpan BootTimeout, int DefaultMemoryMiB, int DefaultCpus, int StartParallelism)
{
    const string Root = "siterecovery.failover";

    /// <summary>The shortest drill interval a plan may set (<c>drill-minimum-interval</c>, 1 hour unless lowered for tests).</summary>
    public TimeSpan DrillMinimumInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the drill scheduler checks for due drills (<c>drill-check-interval</c>).</summary>
    public TimeSpan DrillCheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    public static FailoverSettings Load(string? overridePath)
    {
        try { return Read(overridePath); }
        catch (Exception e) when (e is not ArgumentException) { throw new ArgumentException($"{Root}: {e.Message}"); }
    }

    static FailoverSettings Read(string? overridePath)
    {
        var defaults = Path.Combine(AppContext.BaseDirectory, "hocon", "failover.hocon");
        if (!File.Exists(defaults)) throw new ArgumentException($"configuration file '{defaults}' is missing");
        var c = ConfigurationFactory.ParseString(File.ReadAllText(defaults));
        if (overridePath is not null) c = ConfigurationFactory.ParseString(File.ReadAllText(overridePath)).WithFallback(c);
        var marker = c.GetString($"{Root}.boot-marker");
        if (string.IsNullOrWhiteSpace(marker)) throw new ArgumentException($"{Root}.boot-marker must not be empty");
        var timeout = c.GetTimeSpan($"{Root}.boot-timeout");
        if (timeout <= TimeSpan.Zero) throw new ArgumentException($"{Root}.boot-timeout must be positive");
        return new FailoverSettings(c.GetString($"{Root}.scripts-directory"), marker, timeout,
            Int(c, "default-memory-mib", 64, 65536), Int(c, "default-cpus", 1, 64), Int(c, "start-parallelism", 1, 256))
        {
            DrillMinimumInterval = Positive(c, "drill-minimum-interval", TimeSpan.FromHours(1)),
            DrillCheckInterval = Positive(c, "drill-check-interval", TimeSpan.FromSeconds(30)),
        };
    }

    static TimeSpan Positive(Config c, string key, TimeSpan fallback)
    {
        var v = c.HasPath($"{Root}.{key}") ? c.GetTimeSpan($"{Root}.{key}") : fallback;
        return v > TimeSpan.Zero ? v : throw new ArgumentException($"{Root}.{key} = {v} must be positive");
    }

    static int Int(Config c, string key, int min, int max)
    {
        var v = c.GetInt($"{Root}.{key}");
        return v >= min && v <= max ? v : throw new ArgumentException($"{Root}.{key} = {v} is outside {min}..{max}");
    }
}
