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

    public void WriterRefused(string diskId, WriterRefusal reason, string? boundFingerprint, string offeredFingerprint, string detail)
    {
        log($"disk {diskId}: writer refused ({reason}): {detail}");
        disks.Tell(new RecordWriterRefused(diskId, reason, boundFingerprint, offeredFingerprint, detail, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    public void Resync(ResyncNotice notice)
    {
        log($"disk {notice.DiskId}: resync {(notice.Completed ? "completed" : "started")} ({notice.Reason}) at #{notice.Sequence}");
        if (notice.Completed) disks.Tell(new CompleteResync(notice.DiskId, notice.Sequence));
        // A reason this node does not know (a newer agent's) is journaled as an operator's, as a resync marker's is
        // (ResyncMarker.TryParse): the journal then never holds a number no reader can name.
        else disks.Tell(new RequireResync(notice.DiskId, Enum.IsDefined(notice.Reason) ? notice.Reason : ResyncReason.OperatorRequest));
    }
}
