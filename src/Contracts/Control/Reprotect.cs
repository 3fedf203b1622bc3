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

/// <summary>
/// What the original site is asked to do to return one machine (<c>POST /api/returns</c> on the node whose master target
/// holds the machine's original disks): give those files back from its master target, serve them with an agent that
/// replicates to <paramref name="ProcessServer"/> (the failover site's, comparing by block hashes first, so only what the
/// machine writes from now on and what differs moves), and start the machine on that agent's disks.
/// </summary>
/// <param name="JobId">The failover job the machine returns from (its folder at the original site is named by it).</param>
/// <param name="Disks">The machine's disks, each one adopted as a replica file there (<c>--replica-file</c>).</param>
public sealed record MachineReturnRequest(string JobId, string MachineId, IReadOnlyList<string> Disks, string ProcessServer,
    string Name, int MemoryMiB, int Cpus, string Firmware);

/// <summary>
/// A machine running at the original site again: its agent there (pid, NBD address, log) and each disk's first sync to
/// the failover site, and the machine (pid, console, accelerator) with its boot.
/// </summary>
public sealed record ReturnedMachineRecord(string MachineId, string Site, int AgentPid, string AgentNbd, string AgentLog, IReadOnlyList<ReverseDiskRecord> Disks,
    int MachinePid, string ConsolePath, string Accelerator, bool Booted, double BootSeconds, string? GuestCheck, string? Failure);

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
/// <param name="Return">Whether the machines then start at the original site (<see cref="ReturnMachines"/>); false
/// leaves their disks there for the operator.</param>
public sealed record FailbackFailover(string JobId, long AtUnixMs, bool Return = false) : IFailoverJobCommand;

/// <summary>Starts a failed-back job's machines at the original site (asked with the failback, or again after a failed return).</summary>
public sealed record ReturnMachines(string JobId, long AtUnixMs) : IFailoverJobCommand;

public sealed record RecordReturned(string JobId, IReadOnlyList<ReturnedMachineRecord> Machines, long AtUnixMs) : IFailoverJobCommand;

public sealed record FailReturn(string JobId, string Error, long AtUnixMs) : IFailoverJobCommand;

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

/// <summary>The machines are to start at the original site: once the failback has drained them, or at once after it.</summary>
[Manifest("failover-return-started.v1")]
public sealed record FailoverReturnStarted(string JobId, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-returned.v1")]
public sealed record FailoverReturned(string JobId, IReadOnlyList<ReturnedMachineRecord> Machines, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-return-failed.v1")]
public sealed record FailoverReturnFailed(string JobId, string Error, long AtUnixMs) : IFailoverJobEvent;
