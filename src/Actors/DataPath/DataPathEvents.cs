using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// What the data path reports to the control plane. The node wires these to the persistent
/// actors; the data path itself never waits on the event journal.
/// </summary>
public interface IDataPathEvents
{
    /// <summary>A process server offered a disk and the master target opened its replica.</summary>
    void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath);

    /// <summary>
    /// A bookmark marker was applied and made durable at the replica and retention journal. Completes true once the
    /// catalogue answered (recorded, already there, or refused with a reason), false when it gave up asking: the master
    /// target then keeps the marker and reports it again after its next start.
    /// </summary>
    Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs);

    /// <summary>The replica of a disk is durable through <paramref name="appliedThrough"/> (throttled by the caller).</summary>
    void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied);

    /// <summary>A resync of a disk started or completed, with its reason.</summary>
    void Resync(ResyncNotice notice);

    /// <summary>Retention moved a disk's window: points below <paramref name="oldestSequence"/> can no longer be reached.</summary>
    void RecoveryPointsExpired(string diskId, long oldestSequence) { }

    /// <summary>
    /// A hop's storage failed under a disk (its spool, journal or replica): replication stopped after
    /// <paramref name="stoppedAfter"/>, nothing past it is acknowledged, and the hop retries until its storage reopens.
    /// </summary>
    void ReplicationStopped(string diskId, DiskStopReason reason, long stoppedAfter, string detail) { }

    /// <summary>The hop reopened its storage; the disk replicates again.</summary>
    void ReplicationResumed(string diskId) { }

    /// <summary>
    /// A disk's agent clock went beyond the bound (<paramref name="exceeded"/>) or came back within it: the estimate
    /// <paramref name="skewMs"/> is agent − master target (positive: the agent is ahead).
    /// </summary>
    void AgentClockSkew(string diskId, long skewMs, long boundMs, bool exceeded) { }

    /// <summary>
    /// The process server refused a writer of the disk (<paramref name="reason"/>; <paramref name="detail"/> names the disk
    /// and both fingerprints, never a secret). <paramref name="boundFingerprint"/>: the disk's writer, null when none.
    /// Reported once per (disk, offered writer, reason) until an operator releases or keeps the binding.
    /// </summary>
    void WriterRefused(string diskId, WriterRefusal reason, string? boundFingerprint, string offeredFingerprint, string detail) { }
}

/// <summary>Reports nothing; for tools and tests that only move data.</summary>
public sealed class NoDataPathEvents : IDataPathEvents
{
    public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
    public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs) => Task.FromResult(true);
    public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
    public void Resync(ResyncNotice notice) { }
}
