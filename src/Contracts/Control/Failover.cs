namespace SiteRecovery.Contracts.Control;

/// <summary>
/// Test: recover into an isolated network while replication goes on; cleanup removes it all. Planned: the source is
/// stopped and drained first (zero loss). Unplanned: the source may be gone; recover to what the target has.
/// </summary>
public enum FailoverKind { Test, Planned, Unplanned }

/// <summary>
/// Where a failover job is. <see cref="Running"/> while steps run; <see cref="WaitingForOperator"/> at a manual action;
/// <see cref="StepFailed"/> until the operator retries, skips or cancels; <see cref="Completed"/> when every step is done
/// and the machines run (a test failover then waits for its cleanup or its time-to-live; a planned or unplanned one for
/// its commit, a change of point or a rollback); <see cref="Committed"/> once an operator made a failover final;
/// <see cref="CleaningUp"/> while everything the job made is removed (a cleanup or a rollback); <see cref="CleanedUp"/> at the end.
/// After a commit: <see cref="Reprotecting"/> while the machines are protected back to the original site (a failed
/// reprotect returns to <see cref="Committed"/>), <see cref="Reprotected"/> while they replicate back,
/// <see cref="FailingBack"/> while they stop and drain (a failed failback returns to <see cref="Reprotected"/>), and
/// <see cref="FailedBack"/> once the original site holds every write: the machines are free again. A failback that
/// returns the machines goes on to <see cref="Returning"/> while the original site starts each machine on its original
/// disks behind an agent that replicates to this site again (a failed return stays <see cref="FailedBack"/>), and ends
/// <see cref="Returned"/>: the machines run where they started, protected in the original direction.
/// </summary>
public enum FailoverJobStatus { NotStarted, Running, WaitingForOperator, StepFailed, Completed, CleaningUp, CleanedUp, Committed, Reprotecting, Reprotected, FailingBack, FailedBack, Returning, Returned }

public enum FailoverStepState { Pending, Running, Succeeded, Failed, Skipped }

/// <summary>
/// What a step does: stop the source (a planned failover: exports read-only, every delta drained, the final point taken),
/// resolve the point of every machine, wait for an operator, run a script, start a boot group, write the drill report.
/// </summary>
public enum FailoverStepKind { ResolvePoint, Manual, Script, StartGroup, DrillReport, StopSource }

/// <summary>
/// The point to fail over to. <see cref="Kind"/>: <c>latest</c> (per machine, the newest state consistent across all its
/// disks, never inside a resync), <c>latest-processed</c> (the newest recovery point recorded on every disk of the
/// machine), <c>latest-app</c> (the newest application-consistent one), <c>latest-group</c> (the newest multi-VM consistent
/// point: one name recorded on every disk of every machine of the failover, chosen for all machines together),
/// <c>bookmark</c> (<see cref="Bookmark"/> on every
/// disk) or <c>time</c> (the newest recovery point at or before <see cref="Time"/>).
/// </summary>
public sealed record FailoverPointChoice(string Kind, string? Bookmark = null, DateTimeOffset? Time = null)
{
    public static readonly IReadOnlyList<string> Kinds = ["latest", "latest-processed", "latest-app", "latest-group", "bookmark", "time"];

    public override string ToString() => Kind switch
    {
        "bookmark" => $"bookmark {Bookmark}",
        "time" => $"time {Time:O}",
        _ => Kind,
    };
}

/// <summary>One step of a failover job, fixed when the job starts (a later change of the plan does not move a running job).</summary>
public sealed record FailoverStepPlan(int Index, FailoverStepKind Kind, string Name, int? Group, IReadOnlyList<string> Machines,
    string? Instructions = null, string? Script = null, int? TimeoutSeconds = null);

/// <summary>
/// The point one machine recovers to: a name (the recovery point's, or <c>latest</c>), each disk's sequence and when the
/// point was taken (the master target's clock where it has it).
/// </summary>
public sealed record MachinePoint(string MachineId, string PointName, IReadOnlyDictionary<string, long> Sequences, long PointTimeUnixMs, string Consistency, string? Note = null);

/// <summary>
/// One disk of a started machine: for a test failover the export of the point (its id and NBD URI); for a planned or
/// unplanned one the image materialized at the point (<c>file://</c>, with its SHA-256 at the point).
/// </summary>
public sealed record ServedDiskRecord(string DiskId, string ExportId, string Uri, long Sequence, long SizeBytes)
{
    public string? Sha256 { get; init; }
}

/// <summary>A machine a failover started: the compute target's handle, persisted so a restarted node can still remove it.</summary>
public sealed record StartedMachineRecord(string Target, string MachineId, string Name, string InstanceId, int Pid, string ConsolePath, string Accelerator,
    long StartedUnixMs, IReadOnlyList<ServedDiskRecord> Disks)
{
    /// <summary>How the machine's network was isolated, as the target reports it (null for records from before it was kept).</summary>
    public string? Isolation { get; init; }

    /// <summary>
    /// The addresses a test failover asked the guest to send its own packets to (its drill peers and one address that must
    /// stay out of reach), for the drill report to judge; null when none were asked (see <see cref="NotProbed"/>), and in
    /// records from before drills probed.
    /// </summary>
    public IReadOnlyList<DrillProbeTarget>? Probes { get; init; }

    /// <summary>Why a test failover's machine was given no probes (no static address, no peers and no outside address); null otherwise.</summary>
    public string? NotProbed { get; init; }
}

/// <summary>What a drill's probe address stands for: another machine of the drill on the same network, or an address it must not reach.</summary>
public enum DrillProbeRole { Peer, Outside }

/// <summary>One address a drill's guest probes: its role, and for a peer the machine that holds it.</summary>
public sealed record DrillProbeTarget(string Address, DrillProbeRole Role, string? PeerMachineId);

/// <summary>
/// What one probe of a drill's guest found, from its own console: whether the address answered its ping, whether its TCP
/// hello was taken, and for a peer whether the peer's console shows that hello (null: the peer's console was not read).
/// <see cref="Note"/>: why the probe counts or does not (the peer did not boot, the guest reported no such probe).
/// </summary>
public sealed record DrillProbeResult(string Address, DrillProbeRole Role, string? PeerMachineId, bool PingAnswered, bool TcpSent, bool? HeardByPeer, string? Note)
{
    public bool Reached => PingAnswered || TcpSent;
}

/// <summary>
/// A drill machine's isolation as its guest's own packets showed it: <see cref="Probed"/> when the guest reported its
/// probes, else <see cref="NotProbed"/> says why; each probe's result; <see cref="Failure"/> the reason it fails the
/// machine (<c>not isolated: machine M reached A (outside)</c>, a peer that did not answer), null when it passes.
/// </summary>
public sealed record DrillIsolationEvidence(bool Probed, string? NotProbed, IReadOnlyList<DrillProbeResult> Probes, string? Failure);

/// <summary>How one machine's boot went: booted when its console showed the marker; the guest's own check line when it printed one.</summary>
public sealed record MachineBootRecord(string MachineId, bool Booted, long AtUnixMs, double Seconds, string? GuestCheck, string? Failure, IReadOnlyList<string> ConsoleTail)
{
    /// <summary>
    /// False when a step kept the machine running instead of booting it again (a reprotect that moved it onto its agent's
    /// exports live: Seconds is then the move's, GuestCheck the last check line of its one boot); null in every other
    /// record, and in those from before it was kept, which all are boots.
    /// </summary>
    public bool? Restarted { get; init; }
}

/// <summary>A disk's SHA-256 at the point on two independent paths: the export the machine booted from, and a replay of base image plus journal.</summary>
public sealed record DiskChecksum(string DiskId, long Sequence, string BootedSha256, string ReplaySha256)
{
    public bool Agree => BootedSha256 == ReplaySha256;
}

/// <summary>
/// One machine in a drill report: the point and its age when the failover was asked for (achieved RPO), the time from
/// the command to booted (RTO), how it was accelerated, the guest's own check and each disk's two checksums.
/// </summary>
public sealed record MachineDrill(string MachineId, string PointName, long PointTimeUnixMs, long RpoMs, long? RtoMs, string Accelerator, string? GuestCheck,
    IReadOnlyList<DiskChecksum> Disks, bool Passed, string? Failure)
{
    /// <summary>
    /// The guest's own network line when it printed one before booting (the tiny test guest: <c>SR-NET eth0 MAC ADDR/24</c>,
    /// <c>SR-NET eth0 MAC unaddressed</c> or <c>SR-NET NONE</c>): which NIC the drill's machine saw. Evidence only, it
    /// passes or fails nothing. Null when the guest printed none, and in reports from before it was kept.
    /// </summary>
    public string? GuestNetwork { get; init; }

    /// <summary>
    /// What the guest's own packets reached (peers answering, the outside address not), and the verdict on it; a failure
    /// here fails the machine. Null in reports from before drills probed.
    /// </summary>
    public DrillIsolationEvidence? Isolation { get; init; }
}

public sealed record StepSummary(int Index, string Name, FailoverStepKind Kind, FailoverStepState State, long? DurationMs, string? Output);

/// <summary>The evidence a test failover leaves: per machine and for the plan; <see cref="Passed"/> only when every machine booted and every check agreed.</summary>
public sealed record DrillReport(string JobId, string PlanId, string Point, long RequestedUnixMs, long CompletedUnixMs, long? PlanRtoMs,
    IReadOnlyList<MachineDrill> Machines, IReadOnlyList<StepSummary> Steps, bool Passed, string? Failure);

/// <summary>Any message for a failover job (identity: job id).</summary>
public interface IFailoverJobMessage : IEntityMessage
{
    string JobId { get; }
    string IEntityMessage.EntityId => JobId;
}

public interface IFailoverJobCommand : IFailoverJobMessage;

// ---- commands ----
/// <summary>
/// Starts the job with its steps fixed; <paramref name="TtlSeconds"/>: a completed test failover cleans itself up after it.
/// <paramref name="AutoRollbackSeconds"/>: the commit policy of a planned failover: not committed this long after it
/// completed, it is rolled back by itself (never an unplanned one, whose rollback would throw production writes away).
/// <paramref name="AutoRollbackMinimumSeconds"/>: the node's lower bound on it (absent = 60 s; HOCON
/// <c>siterecovery.failover.auto-rollback-minimum</c>).
/// </summary>
public sealed record StartFailoverJob(string JobId, string PlanId, long PlanVersion, FailoverKind Kind, FailoverPointChoice Point, IReadOnlyList<FailoverStepPlan> Steps,
    IReadOnlyList<string> Machines, long RequestedUnixMs, int? TtlSeconds, int? AutoRollbackSeconds = null, int? AutoRollbackMinimumSeconds = null) : IFailoverJobCommand
{
    /// <summary>The bounds of <see cref="TtlSeconds"/>, here so that a recovery plan's drill schedule is checked against the same ones.</summary>
    public const int MinTtlSeconds = 10;
    public const int MaxTtlSeconds = 7 * 24 * 3600;
}

public sealed record BeginFailoverStep(string JobId, int Index, long AtUnixMs) : IFailoverJobCommand;

public sealed record CompleteFailoverStep(string JobId, int Index, long AtUnixMs, string? Output) : IFailoverJobCommand;

public sealed record FailFailoverStep(string JobId, int Index, long AtUnixMs, string Error) : IFailoverJobCommand;

public sealed record RecordFailoverPoints(string JobId, int Index, IReadOnlyList<MachinePoint> Points, long AtUnixMs) : IFailoverJobCommand;

public sealed record RecordMachinesStarted(string JobId, int Index, IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots) : IFailoverJobCommand;

public sealed record RecordDrillReport(string JobId, int Index, DrillReport Report) : IFailoverJobCommand;

/// <summary>An operator confirms the manual action the job waits at; <paramref name="Index"/> must be that step.</summary>
public sealed record ConfirmManualAction(string JobId, int Index, string Comment, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Runs a failed step again.</summary>
public sealed record RetryFailoverStep(string JobId, int Index, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Goes on past a failed step (or the manual action it waits at); the comment says why and is kept.</summary>
public sealed record SkipFailoverStep(string JobId, int Index, string Comment, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Removes everything the job made (machines, exports, files). <paramref name="Reason"/>: the operator's, the time-to-live, a cancel, a restart.</summary>
public sealed record CleanupFailover(string JobId, string Reason, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Makes a completed planned or unplanned failover final: its machines stay where they run, and stay failed over.</summary>
public sealed record CommitFailover(string JobId, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Undoes a planned or unplanned failover that is not committed: its machines are stopped and what it made removed.</summary>
public sealed record RollbackFailover(string JobId, string Reason, long AtUnixMs) : IFailoverJobCommand;

/// <summary>Runs a completed, uncommitted failover again at another point: the plan's steps run again from the start, the machines restart on it.</summary>
public sealed record ChangeFailoverPoint(string JobId, FailoverPointChoice Point, long AtUnixMs) : IFailoverJobCommand;

/// <summary>The node restarted while <paramref name="Index"/> ran: what it had made is gone with the node, so the job is rolled back.</summary>
public sealed record InterruptFailover(string JobId, int? Index, string Reason, long AtUnixMs) : IFailoverJobCommand;

public sealed record CompleteFailoverCleanup(string JobId, long AtUnixMs, IReadOnlyList<string> Removed) : IFailoverJobCommand;

// ---- query ----
public sealed record GetFailoverJob(string JobId) : IFailoverJobMessage;

public sealed record FailoverStepView(FailoverStepPlan Plan, FailoverStepState State, long? StartedUnixMs, long? EndedUnixMs, string? Output, string? Error, int Attempts);

public sealed record FailoverJobView(string JobId, bool Exists, string? PlanId, FailoverKind Kind, FailoverPointChoice? Point, FailoverJobStatus Status,
    IReadOnlyList<FailoverStepView> Steps, IReadOnlyList<MachinePoint> Points, IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots,
    DrillReport? Report, long RequestedUnixMs, int? TtlSeconds, long? CompletedUnixMs, string? CleanupReason, long? CleanedUpUnixMs, IReadOnlyList<string> History)
{
    /// <summary>Where the machines are protected back to, once a reprotect was asked for.</summary>
    public ReverseTarget? Reverse { get; init; }
    /// <summary>The reverse replication of each machine (its agent here, each disk's first sync).</summary>
    public IReadOnlyList<ReverseMachineRecord> ReverseMachines { get; init; } = [];
    /// <summary>Each disk as the original site holds it after the failback.</summary>
    public IReadOnlyList<FailbackDiskRecord> FailbackDisks { get; init; } = [];
    /// <summary>The machines running at the original site again after a failback that returned them.</summary>
    public IReadOnlyList<ReturnedMachineRecord> Returned { get; init; } = [];
    /// <summary>A planned failover's commit policy: rolled back by itself when not committed this long after it completed.</summary>
    public int? AutoRollbackSeconds { get; init; }
    /// <summary>When the commit policy rolls the job back, while it is completed and not committed.</summary>
    public long? AutoRollbackAtUnixMs { get; init; }
}

// ---- events ----
public interface IFailoverJobEvent : IControlEvent
{
    string JobId { get; }
}

/// <summary>A job started. <paramref name="AutoRollbackSeconds"/> is null in events recorded before the commit policy existed (no policy).</summary>
[Manifest("failover-job-started.v1")]
public sealed record FailoverJobStarted(string JobId, string PlanId, long PlanVersion, FailoverKind Kind, FailoverPointChoice Point, IReadOnlyList<FailoverStepPlan> Steps,
    IReadOnlyList<string> Machines, long RequestedUnixMs, int? TtlSeconds, int? AutoRollbackSeconds = null) : IFailoverJobEvent;

[Manifest("failover-step-started.v1")]
public sealed record FailoverStepStarted(string JobId, int Index, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-step-succeeded.v1")]
public sealed record FailoverStepSucceeded(string JobId, int Index, long AtUnixMs, string? Output) : IFailoverJobEvent;

[Manifest("failover-step-failed.v1")]
public sealed record FailoverStepFailed(string JobId, int Index, long AtUnixMs, string Error) : IFailoverJobEvent;

[Manifest("failover-points-resolved.v1")]
public sealed record FailoverPointsResolved(string JobId, int Index, IReadOnlyList<MachinePoint> Points) : IFailoverJobEvent;

[Manifest("failover-machines-started.v1")]
public sealed record FailoverMachinesStarted(string JobId, int Index, IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots) : IFailoverJobEvent;

[Manifest("failover-drill-reported.v1")]
public sealed record FailoverDrillReported(string JobId, int Index, DrillReport Report) : IFailoverJobEvent;

[Manifest("failover-manual-action-confirmed.v1")]
public sealed record FailoverManualActionConfirmed(string JobId, int Index, string Comment, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-step-retried.v1")]
public sealed record FailoverStepRetried(string JobId, int Index, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-step-skipped.v1")]
public sealed record FailoverStepSkipped(string JobId, int Index, string Comment, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-cleanup-started.v1")]
public sealed record FailoverCleanupStarted(string JobId, string Reason, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-interrupted.v1")]
public sealed record FailoverInterrupted(string JobId, int? Index, string Reason, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-committed.v1")]
public sealed record FailoverCommitted(string JobId, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-point-changed.v1")]
public sealed record FailoverPointChanged(string JobId, FailoverPointChoice Point, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-cleaned-up.v1")]
public sealed record FailoverCleanedUp(string JobId, long AtUnixMs, IReadOnlyList<string> Removed) : IFailoverJobEvent;
