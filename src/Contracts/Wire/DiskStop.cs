namespace SiteRecovery.Contracts.Wire;

/// <summary>Why a disk's replication stopped at a hop: the storage under that hop failed a write or an fsync.</summary>
public enum DiskStopReason
{
    /// <summary>The process server could not write the disk's spool (ENOSPC, EIO).</summary>
    SpoolWriteFailed,
    /// <summary>The process server's fsync of the disk's spool failed: what it wrote since the last good fsync is not trusted.</summary>
    SpoolFsyncFailed,
    /// <summary>The master target could not write the disk's retention journal.</summary>
    JournalWriteFailed,
    /// <summary>The master target's fsync of the disk's retention journal failed.</summary>
    JournalFsyncFailed,
    /// <summary>The master target could not write a record to the replica after its journal append.</summary>
    ReplicaWriteFailed,
}

/// <summary>
/// A process server tells its master target that a disk's replication stopped at its spool (<see cref="Cleared"/> false)
/// or resumed (true). <see cref="StoppedAfter"/> is the last sequence durable at that hop: nothing after it is
/// acknowledged until the hop has reopened its storage.
/// </summary>
public sealed record StorageFaultNotice(string DiskId, DiskStopReason Reason, long StoppedAfter, string Detail, bool Cleared) : ControlMessage;
