using Akka.Configuration;
using SiteRecovery.Actors.DataPath;

namespace SiteRecovery.Node;

/// <summary>
/// Reads hocon/datapath.hocon (and an operator's overrides) into the data-path options.
/// A value that is missing, unparsable or out of range stops start-up with its key named.
/// </summary>
public static class DataPathSettings
{
    const string Root = "siterecovery.data-path";

    public static Config Load(string? overridePath)
    {
        var defaults = Path.Combine(AppContext.BaseDirectory, "hocon", "datapath.hocon");
        if (!File.Exists(defaults)) throw new ArgumentException($"configuration file '{defaults}' is missing");
        var config = Parse(defaults);
        if (overridePath is not null)
        {
            if (!File.Exists(overridePath)) throw new ArgumentException($"--config '{overridePath}' does not exist");
            config = Parse(overridePath).WithFallback(config);
        }
        return config;
    }

    static Config Parse(string path)
    {
        try { return ConfigurationFactory.ParseString(File.ReadAllText(path)); }
        catch (Exception e) when (e is not IOException) { throw new ArgumentException($"configuration file '{path}' is not valid HOCON: {e.Message}"); }
    }

    public static ProcessServerOptions Apply(Config c, ProcessServerOptions o) => o with
    {
        CommitBytes = (int)Bytes(c, "process-server.commit-bytes", 4096, 1L << 30),
        CompressionParallelism = (int)Number(c, "process-server.compression-parallelism", 1, 64),
        CompressionLevel = (int)Number(c, "process-server.compression-level", -7, 22),
        ForwardBatchBytes = (int)Bytes(c, "process-server.forward-batch-bytes", 4096, 1L << 30),
        ForwardMemoryBytes = Bytes(c, "process-server.forward-memory-bytes", 0, 1L << 30),
        Spool = o.Spool with
        {
            SegmentBytes = Bytes(c, "process-server.spool-segment-bytes", 1 << 20, 1L << 36),
            RecycleSegments = (int)Number(c, "process-server.spool-recycle-segments", 0, 64),
        },
        CacheBytes = Bytes(c, "process-server.cache-bytes", 64L << 20, 1L << 44),
        MaxConnections = (int)Number(c, "process-server.max-connections", 1, 1 << 20),
        MaxDiskSize = Bytes(c, $"process-server.{DiskSizeLimit.Key}", 1 << 20, DiskSizeLimit.Ceiling),
    };

    public static MasterTargetOptions Apply(Config c, MasterTargetOptions o) => o with
    {
        CommitBytes = (int)Bytes(c, "master-target.commit-bytes", 4096, 1L << 30),
        ProgressInterval = Duration(c, "master-target.progress-interval"),
        ReplicaFlushInterval = Duration(c, "master-target.replica-flush-interval"),
        AutoRecoveryPointInterval = c.GetString(Key("master-target.auto-recovery-point-interval")) is "off" ? null : Duration(c, "master-target.auto-recovery-point-interval"),
        Journal = o.Journal with { SegmentBytes = Bytes(c, "master-target.journal-segment-bytes", 1 << 20, 1L << 36) },
        Retention = o.Retention with
        {
            Window = c.GetString(Key("master-target.retention-window")) is "off" ? null : Duration(c, "master-target.retention-window"),
            CheckpointIntervalBytes = Bytes(c, "master-target.checkpoint-interval-bytes", 64 << 10, 1L << 40),
            CheckpointInterval = Duration(c, "master-target.checkpoint-interval"),
        },
        RetentionCheckInterval = Duration(c, "master-target.retention-check-interval"),
        ClockSkewAlert = c.GetString(Key("master-target.clock-skew-alert")) is "off" ? null : Duration(c, "master-target.clock-skew-alert"),
        MaxConnections = (int)Number(c, "master-target.max-connections", 1, 1 << 20),
        MaxDiskSize = Bytes(c, $"master-target.{DiskSizeLimit.Key}", 1 << 20, DiskSizeLimit.Ceiling),
    };

    /// <summary>The TLS mode of a listener, <c>tls.process-server</c> or <c>tls.master-target</c>.</summary>
    public static SiteRecovery.Connections.HopTlsMode TlsMode(Config c, string listener)
    {
        var key = $"tls.{listener}";
        return c.GetString(Key(key)) switch
        {
            "off" => SiteRecovery.Connections.HopTlsMode.Off,
            "optional" => SiteRecovery.Connections.HopTlsMode.Optional,
            "required" => SiteRecovery.Connections.HopTlsMode.Required,
            null => throw new ArgumentException($"{Key(key)}: missing"),
            var other => throw new ArgumentException($"{Key(key)} = {other} is not one of off, optional, required"),
        };
    }

    /// <summary>The master target id a process server pins, or null (any master target of the site).</summary>
    public static string? MasterTargetPin(Config c) => c.GetString(Key("tls.master-target-id")) is { Length: > 0 } id ? id : null;

    /// <summary>The group-bookmark schedule: crash-consistent group points (null: off) and how often it is checked.</summary>
    public static (TimeSpan? GroupPointInterval, TimeSpan CheckInterval) GroupSchedule(Config c) =>
        (c.GetString(Key("master-target.group-point-interval")) is "off" ? null : Duration(c, "master-target.group-point-interval"),
         Duration(c, "master-target.group-schedule-check-interval"));

    internal static string Key(string k) => $"{Root}.{k}";

    internal static long Bytes(Config c, string key, long min, long max)
    {
        long? v;
        try { v = c.GetByteSize(Key(key)); }
        catch (Exception e) { throw new ArgumentException($"{Key(key)}: not a byte size ({e.Message})"); }
        if (v is null) throw new ArgumentException($"{Key(key)}: missing");
        if (v < min || v > max) throw new ArgumentException($"{Key(key)} = {v} is outside {min}..{max} bytes");
        return v.Value;
    }

    internal static long Number(Config c, string key, long min, long max)
    {
        if (!c.HasPath(Key(key))) throw new ArgumentException($"{Key(key)}: missing");
        long v;
        try { v = c.GetLong(Key(key)); }
        catch (Exception e) { throw new ArgumentException($"{Key(key)}: not a number ({e.Message})"); }
        if (v < min || v > max) throw new ArgumentException($"{Key(key)} = {v} is outside {min}..{max}");
        return v;
    }

    internal static TimeSpan Duration(Config c, string key)
    {
        if (!c.HasPath(Key(key))) throw new ArgumentException($"{Key(key)}: missing");
        TimeSpan v;
        try { v = c.GetTimeSpan(Key(key)); }
        catch (Exception e) { throw new ArgumentException($"{Key(key)}: not a duration ({e.Message})"); }
        if (v <= TimeSpan.Zero) throw new ArgumentException($"{Key(key)} must be positive");
        return v;
    }
}
