using System.Net;
using SiteRecovery.Connections;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>Settings of the master target's data path.</summary>
public sealed record MasterTargetOptions(string ServerId, IPEndPoint Listen, string DataDirectory)
{
    /// <summary>Commit (fsync and acknowledge) at least every this many bytes even while data keeps arriving.</summary>
    public int CommitBytes { get; init; } = 8 << 20;
    /// <summary>
    /// A Unix socket where the process server of this node reaches the master target beside it, plain (see
    /// <see cref="SessionListener.ForLocalComponents"/>); null: none, every process server comes in on <see cref="Listen"/>.
    /// </summary>
    public string? LocalListen { get; init; }
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest time the replica goes without an fsync; the journal is fsync'd at every commit.</summary>
    public TimeSpan ReplicaFlushInterval { get; init; } = TimeSpan.FromSeconds(1);
    public SegmentLogOptions Journal { get; init; } = new();
    /// <summary>
    /// Called at each commit with the disk and, per delta made durable, the milliseconds since the agent
    /// numbered it (its acknowledgement to the NBD client): the replication lag. For benchmarks and RPO views.
    /// </summary>
    public Action<string, IReadOnlyList<long>>? LagObserver { get; init; }
    /// <summary>
    /// How often a crash-consistent recovery point is taken automatically for each machine whose disks
    /// changed since its last point (one bookmark across all of the machine's disks); null turns it off.
    /// </summary>
    public TimeSpan? AutoRecoveryPointInterval { get; init; }
    /// <summary>Retention window and checkpoint interval of every disk's journal.</summary>
    public RetentionOptions Retention { get; init; } = new();
    /// <summary>How often each disk's retention is maintained (checkpoint when due, roll the base, trim the journal).</summary>
    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>The master target's clock (Unix ms): receive times, the retention window and time resolution go by it; null = the system clock.</summary>
    public Func<long>? Clock { get; init; }
    /// <summary>
    /// Raise the clock-skew alert of a disk when its agent's stamps are off the master target's clock by more than this
    /// (see <see cref="AgentClockSkew"/>), clear it when back within; null turns the check off.
    /// </summary>
    public TimeSpan? ClockSkewAlert { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>The commits the skew is estimated over (checked at each retention pass); null: six retention passes (1 min by default).</summary>
    public TimeSpan? ClockSkewPeriod { get; init; }
    /// <summary>
    /// Process-server connections served at once (one per disk forwarded, plus control links and probes); one more is
    /// closed as soon as it is accepted.
    /// </summary>
    public int MaxConnections { get; init; } = SessionListener.DefaultMaxConnections;
    /// <summary>The largest disk a process server may offer; a larger one is refused by name before anything is made for it.</summary>
    public long MaxDiskSize { get; init; } = DiskSizeLimit.DefaultMax;
    /// <summary>TLS of the process-server listener; null: plain only.</summary>
    public HopListenerTls? ListenTls { get; init; }
}
