using SiteRecovery.Compute;
using SiteRecovery.Compute.Azure;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// Which compute target each machine fails over to (its failover properties' <c>Target</c>), and the disks of a machine
/// that fails over to Azure: each disk's point is the page-blob snapshot the master target took when the point's marker
/// was applied (<c>azure-page-blob.snapshot-points</c>), handed to the target by URI for a managed-disk import. The
/// replica blob is never handed over, so a test failover leaves it as it was; a point without a snapshot is refused,
/// naming the disk and the point, before any machine is started.
/// </summary>
public sealed partial class NodeFailoverEffects
{
    /// <summary>The export id recorded for a disk an Azure VM imported from a point's snapshot (nothing is served here).</summary>
    const string SnapshotExport = "page-blob-snapshot";

    static bool IsAzure(IComputeTarget target) => target.Name == AzureComputeTarget.TargetName;

    /// <summary>The target a machine fails over to: its failover properties' <c>Target</c>, <c>local</c> for a machine known only by its agent.</summary>
    async Task<IComputeTarget> TargetOfAsync(string machineId, CancellationToken ct)
    {
        var name = (await MachineAsync(machineId, ct))?.Properties?.Target ?? Compute.Local.LocalQemuTarget.TargetName;
        return targets.Problem(name) is { } problem ? throw new InvalidOperationException($"machine {machineId}: {problem}") : targets.Get(name);
    }

    /// <summary>
    /// Every reason <paramref name="points"/> cannot start on their machines' targets (an unknown or unconfigured target, an
    /// Azure machine's disk whose point has no snapshot), all named at once; nothing when they can.
    /// </summary>
    async Task CheckTargetsAsync(IReadOnlyList<MachinePoint> points, CancellationToken ct)
    {
        var problems = new List<string>();
        foreach (var point in points)
        {
            IComputeTarget target;
            try { target = await TargetOfAsync(point.MachineId, ct); }
            catch (InvalidOperationException e) { problems.Add(e.Message); continue; }
            if (!IsAzure(target)) continue;
            foreach (var (disk, sequence) in point.Sequences.OrderBy(x => x.Key, StringComparer.Ordinal))
                if ((await SnapshotOfAsync(disk, sequence, point.PointName, ct)).Problem is { } p) problems.Add($"machine {point.MachineId}: {p}");
        }
        if (problems.Count > 0) throw new InvalidOperationException(string.Join("; ", problems));
    }

    /// <summary>The URI of the snapshot that holds <paramref name="diskId"/> at <paramref name="sequence"/>, or why there is none.</summary>
    async Task<(Uri? Uri, string? Problem)> SnapshotOfAsync(string diskId, long sequence, string pointName, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var what = $"disk {diskId} has no page-blob snapshot of point '{pointName}' (#{sequence}) for the azure target to import";
        var replica = (await target.GetDiskAsync(diskId)).Replica;
        if (replica is not IPointSnapshots snapshots || replica is not IPointSnapshotUris uris)
            return (null, $"{what}: its replica is not a page blob (master-target.replica-store = azure-page-blob)");
        if (!snapshots.SnapshotsPoints)
            return (null, $"{what}: master-target.azure-page-blob.snapshot-points is off");
        var taken = (await snapshots.ListPointSnapshotsAsync(ct)).FirstOrDefault(s => s.Sequence == sequence);
        return taken is null
            ? (null, $"{what}: none was taken at that sequence (only points recorded while snapshot-points is on have one, and 'latest' is no point: choose a named one)")
            : (uris.SnapshotUri(taken), null);
    }

    /// <summary>The disks of an Azure machine: each its point's snapshot, in the machine's disk order.</summary>
    async Task<List<ServedDiskRecord>> SnapshotDisksAsync(MachinePoint point, IReadOnlyList<string> disks, CancellationToken ct)
    {
        var target = dataPath.Target!;
        var served = new List<ServedDiskRecord>();
        foreach (var disk in disks)
        {
            var (uri, problem) = await SnapshotOfAsync(disk, point.Sequences[disk], point.PointName, ct);
            if (uri is null) throw new InvalidOperationException(problem);
            served.Add(new ServedDiskRecord(disk, SnapshotExport, uri.AbsoluteUri, point.Sequences[disk], (await target.GetDiskAsync(disk)).Size));
        }
        return served;
    }
}
