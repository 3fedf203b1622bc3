namespace SiteRecovery.Contracts.Control;

/// <summary>
/// Where a committed failover's machines are protected back to: the original site's process server (data path,
/// <c>HOST:PORT</c>) and the API of the node that runs its master target, whose replicas are the machines' original
/// disks (<c>srnode --replica-file</c>), so the failback knows when every change has reached them.
/// </summary>
public sealed record ReverseTarget(string ProcessServer, string Api);

/// <summary>
/// One disk's first reverse sync: compared block by block with the original disk by hashes, only what differs moved.
/// <paramref name="BytesSent"/> against <paramref name="SizeBytes"/> is what a reprotect saves over a full copy.
/// </summary>
public sealed record ReverseDiskRecord(string DiskId, long SizeBytes, long BytesSent, long BlocksSent, long BlocksEqual, double Seconds);

/// <summary>
/// A machine protected back: the agent that now serves its disks at this site (a process of its own, found again by
/// its pid and its state folder), its NBD address, and each disk's first sync.
/// </summary>
public sealed record ReverseMachineRecord(string MachineId, int AgentPid, string AgentStateDirectory, string AgentLog, string Nbd, IReadOnlyList<ReverseDiskRecord> Disks);

/// <summary>A disk after the failback: the last sequence the original site holds and the disk's SHA-256 at it.</summary>
public sealed record FailbackDiskRecord(string DiskId, long Sequence, string Sha256);

// ---- commands ----
/// <summary>Protects a committed failover's machines back to <paramref name="Target"/> (the original site).</summary>
public sealed record ReprotectFailover(string JobId, ReverseTarget Target, long AtUnixMs) : IFailoverJobCommand;

public sealed record RecordReprotected(string JobId, IReadOnlyList<ReverseMachineRecord> Machines, IReadOnlyList<StartedMachineRecord> Started,
    IReadOnlyList<MachineBootRecord> Boots, long AtUnixMs) : IFailoverJobCommand;

public sealed record FailReprotect(string JobId, string Error, long AtUnixMs) : IFailoverJobCommand;

/// <summary>
/// The planned failover back: the machines stop here, their agents drain every write to the original site, and the
/// job waits until the original disks hold all of it.
/// </summary>
public sealed record FailbackFailover(string JobId, long AtUnixMs) : IFailoverJobCommand;

public sealed record RecordFailedBack(string JobId, IReadOnlyList<FailbackDiskRecord> Disks, long AtUnixMs) : IFailoverJobCommand;

public sealed record FailFailback(string JobId, string Error, long AtUnixMs) : IFailoverJobCommand;

// ---- events ----
[Manifest("failover-reprotect-started.v1")]
public sealed record FailoverReprotectStarted(string JobId, ReverseTarget Target, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-reprotected.v1")]
public sealed record FailoverReprotected(string JobId, IReadOnlyList<ReverseMachineRecord> Machines, IReadOnlyList<StartedMachineRecord> Started,
    IReadOnlyList<MachineBootRecord> Boots, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-reprotect-failed.v1")]
public sealed record FailoverReprotectFailed(string JobId, string Error, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-failback-started.v1")]
public sealed record FailoverFailbackStarted(string JobId, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-failed-back.v1")]
public sealed record FailoverFailedBack(string JobId, IReadOnlyList<FailbackDiskRecord> Disks, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-failback-failed.v1")]
public sealed record FailoverFailbackFailed(string JobId, string Error, long AtUnixMs) : IFailoverJobEvent;
