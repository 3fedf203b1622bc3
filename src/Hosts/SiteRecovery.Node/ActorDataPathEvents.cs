using Akka.Actor;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Node;

/// <summary>
/// Turns data-path reports into commands for the persistent actors. Tells, not asks: the data path
/// never waits on the event journal. Commands are idempotent, so a report sent twice changes nothing.
/// </summary>
public sealed class ActorDataPathEvents(IActorRef disks, IActorRef masterTargets, string masterTargetId, Action<string> log) : IDataPathEvents
{
    public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath)
    {
        disks.Tell(new RegisterDisk(diskId, machineId ?? "unknown", sizeBytes, processServerId, masterTargetId));
        masterTargets.Tell(new AttachReplica(masterTargetId, diskId, replicaPath));
    }

    public void RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs)
        => disks.Tell(new RecordRecoveryPoint(diskId, bookmarkId, sequence, timeUnixMs, RecoveryPointKind.CrashConsistent));

    public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied)
        => disks.Tell(new RecordReplicationProgress(diskId, appliedThrough, appliedAtUnixMs, bytesApplied));

    public void RecoveryPointsExpired(string diskId, long oldestSequence)
        => disks.Tell(new ExpireRecoveryPoints(diskId, oldestSequence));

    public void ReplicationStopped(string diskId, DiskStopReason reason, long stoppedAfter, string detail)
    {
        log($"disk {diskId}: replication stopped after #{stoppedAfter}: {reason}: {detail}");
        disks.Tell(new StopReplication(diskId, reason, stoppedAfter, detail, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    public void ReplicationResumed(string diskId)
    {
        log($"disk {diskId}: replication resumed");
        disks.Tell(new ResumeReplication(diskId, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }
    public void AgentClockSkew(string diskId, long skewMs, long boundMs, bool exceeded)
        => disks.Tell(new RecordAgentClockSkew(diskId, skewMs, boundMs, exceeded, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

    public void Resync(ResyncNotice notice)
    {
        log($"disk {notice.DiskId}: resync {(notice.Completed ? "completed" : "started")} ({notice.Reason}) at #{notice.Sequence}");
        if (notice.Completed) disks.Tell(new CompleteResync(notice.DiskId, notice.Sequence));
        else disks.Tell(new RequireResync(notice.DiskId, Map(notice.Reason)));
    }

    static SiteRecovery.Contracts.Control.ResyncReason Map(SiteRecovery.Contracts.Wire.ResyncReason r) => r switch
    {
        SiteRecovery.Contracts.Wire.ResyncReason.InitialReplication => SiteRecovery.Contracts.Control.ResyncReason.InitialReplication,
        SiteRecovery.Contracts.Wire.ResyncReason.AgentRestartedWithoutTracking => SiteRecovery.Contracts.Control.ResyncReason.AgentRestartedWithoutTracking,
        SiteRecovery.Contracts.Wire.ResyncReason.StreamGap => SiteRecovery.Contracts.Control.ResyncReason.CacheLost,
        SiteRecovery.Contracts.Wire.ResyncReason.ChecksumMismatch => SiteRecovery.Contracts.Control.ResyncReason.ChecksumMismatch,
        SiteRecovery.Contracts.Wire.ResyncReason.BufferOverflow => SiteRecovery.Contracts.Control.ResyncReason.BufferOverflow,
        SiteRecovery.Contracts.Wire.ResyncReason.AgentCrashActivityLog => SiteRecovery.Contracts.Control.ResyncReason.AgentCrashActivityLog,
        SiteRecovery.Contracts.Wire.ResyncReason.Reprotect => SiteRecovery.Contracts.Control.ResyncReason.Reprotect,
        _ => SiteRecovery.Contracts.Control.ResyncReason.OperatorRequest,
    };
}
