using Akka.Actor;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Node;

/// <summary>
/// Turns data-path reports into commands for the persistent actors. The data path never waits on the event journal:
/// reports are told, except a recovery point's, which is asked off the data path until the disk's actor answers.
/// Commands are idempotent, so a report sent twice changes nothing.
/// </summary>
public sealed class ActorDataPathEvents(IActorRef disks, IActorRef masterTargets, string masterTargetId, Action<string> log,
    ReconnectPolicy? pointRetry = null, TimeSpan? pointAskTimeout = null) : IDataPathEvents
{
    // How a point's report is asked again: a few seconds apart at first, then up to half a minute, for a few minutes in all.
    readonly ReconnectPolicy _pointRetry = pointRetry ?? new ReconnectPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    readonly TimeSpan _pointAskTimeout = pointAskTimeout ?? TimeSpan.FromSeconds(10);

    /// <summary>How many times a point's report is asked before it is given up (and logged as such).</summary>
    public const int PointReportAttempts = 12;

    public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath)
    {
        disks.Tell(new RegisterDisk(diskId, machineId ?? "unknown", sizeBytes, processServerId, masterTargetId));
        masterTargets.Tell(new AttachReplica(masterTargetId, diskId, replicaPath));
    }

    public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs)
        => RecordPointAsync(new RecordRecoveryPoint(diskId, bookmarkId, sequence, timeUnixMs, RecoveryPointKind.CrashConsistent));

    /// <summary>
    /// A durable marker is a point the journal holds: it is reported until the disk's actor answers. A told command was
    /// lost without a word when the actor stopped on a failed journal write (a journal slow under load, a node paused),
    /// and the point never reached the catalogue although the bookmark's marker was durable (the chaos harness found one).
    /// A refusal is logged with its reason.
    /// </summary>
    async Task<bool> RecordPointAsync(RecordRecoveryPoint command)
    {
        for (var failures = 0; ; failures++)
        {
            try
            {
                if (await disks.Ask<CommandResult>(command, _pointAskTimeout).ConfigureAwait(false) is CommandResult.Rejected refused)
                    log($"disk {command.DiskId}: marker '{command.BookmarkId}' at #{command.Sequence} is not a recovery point: {refused.Message}");
                return true;
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                if (failures + 1 >= PointReportAttempts)
                {
                    log($"disk {command.DiskId}: marker '{command.BookmarkId}' at #{command.Sequence} is durable, but its disk's actor did not answer " +
                        $"{PointReportAttempts} reports of it: the point is not in the catalogue yet; the master target reports it again after its next start");
                    return false;
                }
                await Task.Delay(_pointRetry.NextDelay(failures)).ConfigureAwait(false);
            }
        }
    }

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
