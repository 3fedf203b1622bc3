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
/// <para>A snapshot an open view reads is not pruned (<see cref="OldestSnapshotInUse"/>): the view pins the journal from
/// the snapshot on and the window below its point, but the window may still pass the snapshot itself, and an export read
/// from blob storage lives as long as the operator keeps it. It is held before the view is opened, so a pruning pass that
/// reads the window after the view was opened sees the hold; one that read it before deletes only what the view's own
/// window check refuses.</para>
/// </summary>
public sealed partial class MasterTargetServer
{
    // Snapshots open views read, per disk and snapshot sequence, with how many views read each.
    readonly Dictionary<(string Disk, long Sequence), int> _snapshotsInUse = [];

    /// <summary>
    /// Why points of <paramref name="diskId"/> cannot be read from blob storage, or null when they can: its replica must
    /// keep point snapshots (a page blob with <c>snapshot-points = on</c>). Only looks; <see cref="KeyNotFoundException"/>
    /// for a disk with no replica here.
    /// </summary>
    public async Task<string?> SnapshotReadRefusalAsync(string diskId) => SnapshotReadRefusal(await GetDiskAsync(diskId).ConfigureAwait(false));

    static string? SnapshotReadRefusal(ReplicaDisk disk) => disk.Replica switch
    {
        IPointSnapshots { SnapshotsPoints: true } and IPointSnapshotReads => null,
        IPointSnapshots => $"disk {disk.DiskId}: its replica is a page blob with snapshot-points off, so no point of it is kept in blob storage " +
                           "(master-target.azure-page-blob.snapshot-points = on keeps one per recovery point); read the point from the master target's retention instead",
        _ => $"disk {disk.DiskId}: its replica is not a page blob (replica-store = local?), so no point of it is kept in blob storage; " +
             "read the point from the master target's retention instead",
    };

    /// <summary>
    /// Why <paramref name="diskId"/>'s point cannot be written as the new page blob <paramref name="blobName"/>, or null
    /// when it can: as <see cref="SnapshotReadRefusalAsync"/>, then the name (one the store takes, ending in .vhd) and no
    /// blob by that name. Only reads.
    /// </summary>
    public async Task<string?> PointBlobRefusalAsync(string diskId, string blobName, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (SnapshotReadRefusal(disk) is { } refusal) return refusal;
        if (disk.Replica is not IPointImageBlobs images) return $"disk {diskId}: its replica is no blob store; a point is written as a blob only beside a page-blob replica";
        return await images.ImageBlobRefusalAsync(blobName, ct).ConfigureAwait(false);
    }

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
        if (SnapshotReadRefusal(disk) is { } refusal) throw new InvalidOperationException(refusal);
        var snapshots = (IPointSnapshots)disk.Replica;
        var oldest = disk.Retention.Window().OldestSequence;
        var listed = await snapshots.ListPointSnapshotsAsync(ct).ConfigureAwait(false);
        var taken = listed.LastOrDefault(s => s.Sequence <= sequence && s.Sequence >= oldest)
            ?? throw new PointInTimeUnavailableException($"disk {diskId}: no point snapshot of its replica lies between the retention window's start #{oldest} and #{sequence} " +
                $"(snapshots at {(listed.Count == 0 ? "none" : string.Join(", ", listed.Select(s => $"#{s.Sequence}")))})");
        var key = (diskId, taken.Sequence);
        lock (_snapshotsInUse) _snapshotsInUse[key] = _snapshotsInUse.GetValueOrDefault(key) + 1;
        void Release()
        {
            lock (_snapshotsInUse)
                if (--_snapshotsInUse[key] == 0) _snapshotsInUse.Remove(key);
        }
        IPointBase snapshotBase;
        try { snapshotBase = await ((IPointSnapshotReads)disk.Replica).OpenSnapshotBaseAsync(taken, ct).ConfigureAwait(false); }
        catch
        {
            Release();
            throw;
        }
        // OpenView releases the hold when it refuses, or when the view is disposed.
        var view = disk.Retention.OpenView(sequence, snapshotBase, taken.Sequence, Release);
        _log($"disk {diskId}: #{sequence} opened from replica snapshot {taken.Snapshot} of point '{taken.Point}' at #{taken.Sequence} and {sequence - taken.Sequence} journal record(s) after it");
        return view;
    }

    /// <summary>The lowest sequence of a snapshot an open view of <paramref name="diskId"/> reads (<see cref="long.MaxValue"/>: none), which pruning keeps.</summary>
    internal long OldestSnapshotInUse(string diskId)
    {
        lock (_snapshotsInUse)
            return _snapshotsInUse.Keys.Where(k => k.Disk == diskId).Select(k => k.Sequence).DefaultIfEmpty(long.MaxValue).Min();
    }

    /// <summary>
    /// As <see cref="RecoverAsync"/>, the point read from blob storage (<see cref="OpenSnapshotViewAsync"/>): the same
    /// materializer writes the image, so the output is complete or absent.
    /// </summary>
    public async Task<MaterializeResult> RecoverFromSnapshotAsync(string diskId, long sequence, string outputPath, IProgress<double>? progress, CancellationToken ct)
    {
        using var view = await OpenSnapshotViewAsync(diskId, sequence, ct).ConfigureAwait(false);
        return await MaterializeAsync(view, outputPath, progress, ct).ConfigureAwait(false);
    }

    /// <summary>Writes an opened view (<see cref="OpenSnapshotViewAsync"/>; the caller disposes it) to an image, as <see cref="RecoverFromSnapshotAsync(string, long, string, IProgress{double}?, CancellationToken)"/> does.</summary>
    public static Task<MaterializeResult> MaterializeAsync(PointInTimeView view, string outputPath, IProgress<double>? progress, CancellationToken ct) =>
        Task.Run(() => PointInTimeMaterializer.MaterializeAsync(view, outputPath, progress, true, ct), ct);

    /// <summary>
    /// Writes <paramref name="diskId"/> at <paramref name="sequence"/>, read from blob storage, as the new page blob
    /// <paramref name="blobName"/> (a fixed VHD) beside the replica: a disk a compute target can import without touching
    /// the replica or its snapshots.
    /// </summary>
    public async Task<PointImageBlob> WritePointBlobAsync(string diskId, long sequence, string blobName, IProgress<double>? progress, CancellationToken ct)
    {
        var disk = await GetDiskAsync(diskId).ConfigureAwait(false);
        if (disk.Replica is not IPointImageBlobs)
            throw new InvalidOperationException($"disk {diskId}: its replica is no blob store; a point is written as a blob only beside a page-blob replica");
        using var view = await OpenSnapshotViewAsync(diskId, sequence, ct).ConfigureAwait(false);
        return await WritePointBlobAsync(view, blobName, progress, ct).ConfigureAwait(false);
    }

    /// <summary>As <see cref="WritePointBlobAsync(string, long, string, IProgress{double}?, CancellationToken)"/>, from an opened view (the caller disposes it).</summary>
    public async Task<PointImageBlob> WritePointBlobAsync(PointInTimeView view, string blobName, IProgress<double>? progress, CancellationToken ct)
    {
        var disk = await GetDiskAsync(view.DiskId).ConfigureAwait(false);
        if (disk.Replica is not IPointImageBlobs images)
            throw new InvalidOperationException($"disk {view.DiskId}: its replica is no blob store; a point is written as a blob only beside a page-blob replica");
        var written = await images.WriteImageBlobAsync(blobName, view, progress, ct).ConfigureAwait(false);
        _log($"disk {view.DiskId}: #{view.Sequence} written as page blob {written.Uri} ({written.BytesUploaded} bytes uploaded in {written.Requests} request(s))");
        return written;
    }
}
