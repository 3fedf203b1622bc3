using System.Net;
using SiteRecovery.Connections;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>Settings of the process server's data path.</summary>
public sealed record ProcessServerOptions(string ServerId, IPEndPoint Listen, string CacheDirectory, EndPoint MasterTarget)
{
    /// <summary>Fsync the spool and acknowledge at least every this many bytes while data keeps arriving.</summary>
    public int CommitBytes { get; init; } = 8 << 20;
    /// <summary>How many deltas are compressed at once on the way to the master target.</summary>
    public int CompressionParallelism { get; init; } = 2;
    /// <summary>zstd level for deltas forwarded to the master target.</summary>
    public int CompressionLevel { get; init; } = 1;
    /// <summary>Most bytes read from the spool in one batch by a forwarder.</summary>
    public int ForwardBatchBytes { get; init; } = 1 << 20;
    /// <summary>
    /// Per disk, the newest spooled records kept in memory so the forwarder need not read them back from the spool
    /// file; 0 turns it off. Only a forwarder that keeps up benefits, so a few MiB are enough.
    /// </summary>
    public long ForwardMemoryBytes { get; init; } = 8 << 20;
    /// <summary>
    /// The spool's segment files. Trimmed files are kept for reuse (two by default), so the spool writes into
    /// allocated, cached files and its fsyncs carry data, not allocation metadata.
    /// </summary>
    public SegmentLogOptions Spool { get; init; } = new() { SegmentBytes = 16L << 20, RecycleSegments = 2 };
    /// <summary>
    /// Bytes the cache may hold across all disks. Above it the process server stops reading from agents,
    /// so TCP backpressure reaches the agents' senders; it reads again once the master target drains it.
    /// </summary>
    public long CacheBytes { get; init; } = 8L << 30;
    /// <summary>
    /// Waits between attempts to reach the master target for a disk (its forwarder, and the first probe of where it
    /// stands). Every disk of this process server loses the master target at the same instant when it restarts: the
    /// jitter keeps their hellos from arriving together.
    /// </summary>
    public ReconnectPolicy MasterTargetReconnect { get; init; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(3));
    /// <summary>Waits between attempts to reach the master target on the control link (group holds).</summary>
    public ReconnectPolicy ControlReconnect { get; init; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(3));
    /// <summary>Longest wait between attempts to reopen a disk's spool after a storage fault stopped it.</summary>
    public TimeSpan StorageRetryMax { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Waits between attempts to reopen a disk's spool after a storage fault stopped it, up to <see cref="StorageRetryMax"/>.</summary>
    public ReconnectPolicy StorageRetry => new(TimeSpan.FromMilliseconds(100), StorageRetryMax);
    /// <summary>Agent connections served at once (each agent holds two); one more is closed as soon as it is accepted.</summary>
    public int MaxConnections { get; init; } = SessionListener.DefaultMaxConnections;
    /// <summary>The largest disk an agent may offer; a larger one is refused by name before anything is made for it.</summary>
    public long MaxDiskSize { get; init; } = DiskSizeLimit.DefaultMax;
    /// <summary>TLS of the agent listener; null: plain only.</summary>
    public HopListenerTls? ListenTls { get; init; }
    /// <summary>TLS towards the master target (used when the process server holds a certificate); null: plain.</summary>
    public HopClientTls? MasterTargetTls { get; init; }
}
