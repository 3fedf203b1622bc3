using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Contracts.Control;

/// <summary>
/// A hop's storage failed under a disk (<paramref name="Reason"/>): its replication stopped after
/// <paramref name="StoppedAfter"/>, the last sequence durable at that hop, until the hop reopens its storage.
/// Idempotent: the same reason again changes nothing.
/// </summary>
public sealed record StopReplication(string DiskId, DiskStopReason Reason, long StoppedAfter, string Detail, long AtUnixMs) : IProtectedDiskCommand;

/// <summary>The hop reopened its storage and the disk replicates again; a no-op when it was not stopped.</summary>
public sealed record ResumeReplication(string DiskId, long AtUnixMs) : IProtectedDiskCommand;

[Manifest("disk-replication-stopped.v1")]
public sealed record ReplicationStopped(string DiskId, DiskStopReason Reason, long StoppedAfter, string Detail, long AtUnixMs) : IProtectedDiskEvent;

[Manifest("disk-replication-resumed.v1")]
public sealed record ReplicationResumed(string DiskId, long AtUnixMs) : IProtectedDiskEvent;
