using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Points read from blob storage: the replica's snapshot at or below the point, plus the retention journal's records
/// from the snapshot to the point, opened as a <see cref="PointInTimeView"/> on the snapshot instead of the local base
/// image. Everything after the view is the local path's own: the materializer writes it to an image, the export serves it
/// over NBD, the store writes it as a new page blob. Apart from <c>MasterTargetServer.Recovery.cs</c> because only a
/// replica that keeps point snapshots (a page blob with <c>snapshot-points = on</c>) has this source.
/// <para>Which snapshot: the newest at or below the point that is inside the window. A snapshot below the window is
/// refused even while it still exists (pruning follows the window at the next retention pass): the journal keeps only
/// the records after the window's start, so the records between such a snapshot and the point may be gone.</para>
/// </summary>
public sealed partial class MasterTargetServer
{
    /// <summary>
    /// Opens <paramref name="diskId"/> at <paramref name="sequence"/> read from the replica's point snapshot at or below it
    /// plus the journal after the snapshot. Refused (nothing opened) with <see cref="InvalidOperationException"/> when the
    /// replica keeps no snapshots, <see cref="PointInTimeUnavailableException"/> when none lies between the window's start
    /// and the point, and as <see cref="OpenViewAsync"/> refuses a point inside a resync or past what is durable.
    /// </summary>
    public async Task<PointInTimeView> OpenSnapshotViewAsync(string diskId, long sequence, CancellationToken ct = default)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (sequence > disk.DurableThrough)
            throw new ArgumentOutOfRangeException(nameof(sequence), $"disk {diskId}: sequence {sequence} is past what is durable here (#{disk.DurableThrough})");
        RefuseInsideResync(disk, sequence);
        if (disk.Replica is not IPointSnapshots { SnapshotsPoints: true } snapshots || disk.Replica is not IPointSnapshotReads reads)
            throw new InvalidOperationException($"disk {diskId}: its replica keeps no point snapshots (a page-blob replica with snapshot-points on does); " +
                "read the point from the master target's retention instead");
        var oldest = disk.Retention.Window().OldestSequence;
        var listed = await snapshots.ListPointSnapshotsAsync(ct).ConfigureAwait(false);
        var taken = listed.LastOrDefault(s => s.Sequence <= sequence && s.Sequence >= oldest)
            ?? throw new PointInTimeUnavailableException($"disk {diskId}: no point snapshot of its replica lies between the retention window's start #{oldest} and #{sequence} " +
                $"(snapshots at {(listed.Count == 0 ? "none" : string.Join(", ", listed.Select(s => $"#{s.Sequence}")))})");
        var snapshotBase = await reads.OpenSnapshotBaseAsync(taken, ct).ConfigureAwait(false);
        var view = disk.Retention.OpenView(sequence, snapshotBase, taken.Sequence, null);
        _log($"disk {diskId}: #{sequence} opened from replica snapshot {taken.Snapshot} of point '{taken.Point}' at #{taken.Sequence} and {sequence - taken.Sequence} journal record(s) after it");
        return view;
    }

    /// <summary>
    /// As <see cref="RecoverAsync"/>, the point read from blob storage (<see cref="OpenSnapshotViewAsync"/>): the same
    /// materializer writes the image, so the output is complete or absent.
    /// </summary>
    public async Task<MaterializeResult> RecoverFromSnapshotAsync(string diskId, long sequence, string outputPath, IProgress<double>? progress, CancellationToken ct)
    {
        using var view = await OpenSnapshotViewAsync(diskId, sequence, ct).ConfigureAwait(false);
        return await Task.Run(() => PointInTimeMaterializer.MaterializeAsync(view, outputPath, progress, true, ct), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes <paramref name="diskId"/> at <paramref name="sequence"/>, read from blob storage, as the new page blob
    /// <paramref name="blobName"/> (a fixed VHD) beside the replica: a disk a compute target can import without touching
    /// the replica or its snapshots.
    /// </summary>
    public async Task<PointImageBlob> WritePointBlobAsync(string diskId, long sequence, string blobName, IProgress<double>? progress, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (disk.Replica is not IPointImageBlobs images)
            throw new InvalidOperationException($"disk {diskId}: its replica is no blob store; a point is written as a blob only beside a page-blob replica");
        using var view = await OpenSnapshotViewAsync(diskId, sequence, ct).ConfigureAwait(false);
        var written = await images.WriteImageBlobAsync(blobName, view, progress, ct).ConfigureAwait(false);
        _log($"disk {diskId}: #{sequence} written as page blob {written.Uri} ({written.BytesUploaded} bytes uploaded in {written.Requests} request(s))");
        return written;
    }
}
