using Akka.Configuration;
using SiteRecovery.Actors.Failover;

namespace SiteRecovery.Node.Failover;

/// <summary>The node's failover settings (<c>hocon/failover.hocon</c>, overridden by <c>--config</c>), checked at start-up.</summary>
public sealed record FailoverSettings(string ScriptsDirectory, string BootMarker, TimeSpan BootTimeout, int DefaultMemoryMiB, int DefaultCpus, int StartParallelism)
{
    const string Root = "siterecovery.failover";

    /// <summary>The shortest drill interval a plan may set (<c>drill-minimum-interval</c>, 1 hour unless lowered for tests).</summary>
    public TimeSpan DrillMinimumInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The shortest commit policy a planned failover may set (<c>auto-rollback-minimum</c>, 60 s unless lowered for tests).</summary>
    public TimeSpan AutoRollbackMinimum { get; init; } = TimeSpan.FromSeconds(FailoverJobState.DefaultAutoRollbackMinimumSeconds);

    /// <summary>How often the drill scheduler checks for due drills (<c>drill-check-interval</c>).</summary>
    public TimeSpan DrillCheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The agent a reprotect starts (<c>reverse-agent</c>: an <c>sragent.dll</c> or executable; empty finds the one installed beside this node).</summary>
    public string ReverseAgent { get; init; } = "";

    /// <summary>How long a reprotect's first sync (the compare with the original disks) may take (<c>reprotect-sync-timeout</c>).</summary>
    public TimeSpan ReprotectSyncTimeout { get; init; } = TimeSpan.FromHours(6);

    /// <summary>How long a failback waits for a reverse agent to drain and for the original site to hold every write (<c>failback-drain-timeout</c>).</summary>
    public TimeSpan FailbackDrainTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long a planned or unplanned failover's booted machine may take to move its disks onto images of its own (<c>materialize-timeout</c>).</summary>
    public TimeSpan MaterializeTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>Each disk's copy rate while a machine moves onto its images (<c>materialize-speed</c>, bytes per second; 0: unlimited).</summary>
    public long MaterializeBytesPerSecond { get; init; }

    /// <summary>
    /// The host number, in each drill machine's own /24, that its guest probes as the address it must not reach
    /// (<c>drill-outside-host</c>, 1..3: hosts the local target never gives a machine). See <see cref="DrillIsolation"/>.
    /// </summary>
    public int DrillOutsideHost { get; init; } = 1;

    /// <summary>How long a drill report waits for each guest that took its probes to report them (<c>drill-probe-timeout</c>).</summary>
    public TimeSpan DrillProbeTimeout { get; init; } = TimeSpan.FromSeconds(150);

    /// <summary>The Azure compute target (<c>azure-target</c>), or null when it is not configured (<see cref="AzureTargetSettings"/>).</summary>
    public AzureTargetSettings? Azure { get; init; }

    /// <summary>The command line that runs the reverse agent: <c>dotnet sragent.dll</c>, or the executable itself.</summary>
    public IReadOnlyList<string> ReverseAgentCommand()
    {
        var path = ReverseAgent.Length > 0 ? ReverseAgent : LocateAgent()
            ?? throw new InvalidOperationException($"{Root}.reverse-agent is not set and no sragent.dll was found beside this node ({AppContext.BaseDirectory})");
        if (!File.Exists(path)) throw new InvalidOperationException($"{Root}.reverse-agent: '{path}' does not exist");
        return path.EndsWith(".dll", StringComparison.Ordinal) ? ["dotnet", path] : [path];
    }

    /// <summary>sragent.dll installed beside srnode, in an <c>agent</c> folder next to the node's, or in the build tree.</summary>
    static string? LocateAgent()
    {
        var here = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var tfm = Path.GetFileName(here);
        var configuration = Path.GetFileName(Path.GetDirectoryName(here)) ?? "";
        string[] candidates =
        [
            Path.Combine(here, "sragent.dll"),
            Path.Combine(here, "..", "agent", "sragent.dll"),
            Path.Combine(here, "..", "..", "..", "..", "SiteRecovery.Agent", "bin", configuration, tfm, "sragent.dll"),
        ];
        return candidates.Select(Path.GetFullPath).FirstOrDefault(File.Exists);
    }

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
            AutoRollbackMinimum = AtLeastASecond(c, "auto-rollback-minimum", TimeSpan.FromSeconds(FailoverJobState.DefaultAutoRollbackMinimumSeconds)),
            ReverseAgent = c.HasPath($"{Root}.reverse-agent") ? c.GetString($"{Root}.reverse-agent") ?? "" : "",
            ReprotectSyncTimeout = Positive(c, "reprotect-sync-timeout", TimeSpan.FromHours(6)),
            FailbackDrainTimeout = Positive(c, "failback-drain-timeout", TimeSpan.FromMinutes(10)),
            MaterializeTimeout = Positive(c, "materialize-timeout", TimeSpan.FromHours(2)),
            MaterializeBytesPerSecond = Bytes(c, "materialize-speed"),
            DrillOutsideHost = c.HasPath($"{Root}.drill-outside-host") ? Int(c, "drill-outside-host", 1, 3) : 1,
            DrillProbeTimeout = Positive(c, "drill-probe-timeout", TimeSpan.FromSeconds(150)),
            Azure = AzureTargetSettings.Read(c),
        };
    }

    static TimeSpan Positive(Config c, string key, TimeSpan fallback)
    {
        var v = c.HasPath($"{Root}.{key}") ? c.GetTimeSpan($"{Root}.{key}") : fallback;
        return v > TimeSpan.Zero ? v : throw new ArgumentException($"{Root}.{key} = {v} must be positive");
    }

    static long Bytes(Config c, string key)
    {
        var v = c.HasPath($"{Root}.{key}") ? c.GetByteSize($"{Root}.{key}") ?? 0 : 0;
        return v >= 0 ? v : throw new ArgumentException($"{Root}.{key} = {v} must be 0 (unlimited) or a size such as 64MiB");
    }

    static TimeSpan AtLeastASecond(Config c, string key, TimeSpan fallback)
    {
        var v = Positive(c, key, fallback);
        return v >= TimeSpan.FromSeconds(1) && v <= TimeSpan.FromSeconds(FailoverJobState.MaxAutoRollbackSeconds)
            ? v
            : throw new ArgumentException($"{Root}.{key} = {v} is outside 1s..{FailoverJobState.MaxAutoRollbackSeconds}s");
    }

    static int Int(Config c, string key, int min, int max)
    {
        var v = c.GetInt($"{Root}.{key}");
        return v >= min && v <= max ? v : throw new ArgumentException($"{Root}.{key} = {v} is outside {min}..{max}");
    }
}
