using System.Collections.Concurrent;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Support;

/// <summary>Data-path events that keep the recovery points, resync notices and replication stops reported, in the order they were reported; the rest is ignored.</summary>
internal sealed class RecordingEvents : IDataPathEvents
{
    public readonly ConcurrentQueue<(string Disk, string Bookmark, long Sequence)> Points = new();
    public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
    public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs)
    {
        Points.Enqueue((diskId, bookmarkId, sequence));
        return Task.FromResult(true);
    }
    public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
    /// <summary>Resync notices (started and completed), in the order they arrived.</summary>
    public readonly ConcurrentQueue<ResyncNotice> Resyncs = new();
    public void Resync(ResyncNotice notice) => Resyncs.Enqueue(notice);
    /// <summary>Stops (with their reason) and resumes, in the order they were reported.</summary>
    public readonly ConcurrentQueue<(string Disk, DiskStopReason? Stopped)> Stops = new();
    public void ReplicationStopped(string diskId, DiskStopReason reason, long stoppedAfter, string detail) => Stops.Enqueue((diskId, reason));
    public void ReplicationResumed(string diskId) => Stops.Enqueue((diskId, null));
}
