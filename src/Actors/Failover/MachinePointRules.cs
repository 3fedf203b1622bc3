using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>
/// One disk of a machine as point resolution sees it: its recovery points, the newest sequence that is a state the
/// source had (never inside a resync) and when the master target received it.
/// </summary>
public sealed record DiskPoints(string DiskId, IReadOnlyList<RecoveryPointView> Points, long LatestConsistentSequence, long LatestTimeUnixMs);

/// <summary>
/// Which state a machine recovers to, for each way of choosing a point. A machine's point is always one state across all
/// of its disks: a recovery point recorded on every disk (the same marker in each stream), or — for a machine of one
/// disk asked for <c>latest</c> — the newest sequence the target holds outside any resync. Never a newest sequence per
/// disk, which would mix moments.
/// </summary>
public static class MachinePointRules
{
    /// <summary>The point, or an error naming the machine, the disks and what is missing.</summary>
    public static (MachinePoint? Point, string? Error) Choose(string machineId, IReadOnlyList<DiskPoints> disks, FailoverPointChoice choice)
    {
        if (disks.Count == 0) return (null, $"machine {machineId} has no disk with a replica on this master target");
        if (disks.FirstOrDefault(d => d.LatestConsistentSequence <= 0) is { } empty)
            return (null, $"machine {machineId}: disk {empty.DiskId} has nothing replicated yet");
        var common = Common(disks);
        switch (choice.Kind)
        {
            case "latest" when disks.Count == 1:
                var d = disks[0];
                return (new MachinePoint(machineId, "latest", new Dictionary<string, long> { [d.DiskId] = d.LatestConsistentSequence }, d.LatestTimeUnixMs, "crash-consistent",
                    "every write the master target holds, outside any resync"), null);
            case "latest":
            case "latest-processed":
                return Pick(machineId, common.LastOrDefault(), disks, choice.Kind == "latest"
                    ? $"a machine of {disks.Count} disks recovers to its newest recovery point common to all of them" : null, "no recovery point is recorded on every disk");
            case "latest-app":
                return Pick(machineId, common.LastOrDefault(p => p.AllApp), disks, null, "no application-consistent recovery point is recorded on every disk");
            case "latest-group":
                // One machine alone: the newest point on all its disks (a plan's machines together: GroupPointRules).
                var (group, groupError) = GroupPointRules.ChooseLatestGroup([new MachineDisks(machineId, disks)]);
                return (group?[0], groupError);
            case "bookmark":
                var named = common.FirstOrDefault(p => p.Name == choice.Bookmark);
                if (named is not null) return Pick(machineId, named, disks, null, "");
                var lacking = disks.Where(x => x.Points.All(p => p.BookmarkId != choice.Bookmark)).Select(x => x.DiskId).ToList();
                return (null, $"machine {machineId}: recovery point '{choice.Bookmark}' is not on disk(s) {string.Join(", ", lacking)} (it expired, or was never taken there)");
            case "time":
                var at = choice.Time!.Value.ToUnixTimeMilliseconds();
                var before = common.LastOrDefault(p => p.TimeUnixMs <= at);
                if (before is not null) return Pick(machineId, before, disks, null, "");
                var oldest = common.FirstOrDefault();
                return (null, $"machine {machineId}: no recovery point common to its disks at or before {choice.Time:O}" +
                    (oldest is null ? " (it has none)" : $" (the oldest is '{oldest.Name}' at {DateTimeOffset.FromUnixTimeMilliseconds(oldest.TimeUnixMs):O})"));
            default:
                return (null, $"point kind '{choice.Kind}' is unknown; use one of {string.Join(", ", FailoverPointChoice.Kinds)}");
        }
    }

    sealed record CommonPoint(string Name, long TimeUnixMs, bool AllApp, IReadOnlyDictionary<string, long> Sequences);

    /// <summary>Points recorded on every disk, oldest first (a point's time is its latest disk's).</summary>
    static List<CommonPoint> Common(IReadOnlyList<DiskPoints> disks)
    {
        var byName = disks[0].Points.Select(p => p.BookmarkId).Distinct(StringComparer.Ordinal);
        var result = new List<CommonPoint>();
        foreach (var name in byName)
        {
            var each = disks.Select(d => (d.DiskId, Point: d.Points.LastOrDefault(p => p.BookmarkId == name))).ToList();
            if (each.Any(x => x.Point is null)) continue;
            result.Add(new CommonPoint(name, each.Max(x => x.Point!.TimeUnixMs),
                each.All(x => x.Point!.Kind == RecoveryPointKind.AppConsistent && x.Point.AppConsistencyFailure is null),
                each.ToDictionary(x => x.DiskId, x => x.Point!.Sequence)));
        }
        return result.OrderBy(p => p.TimeUnixMs).ThenBy(p => p.Sequences.Values.Sum()).ToList();
    }

    static (MachinePoint?, string?) Pick(string machineId, CommonPoint? p, IReadOnlyList<DiskPoints> disks, string? note, string none) =>
        p is null
            ? (null, $"machine {machineId}: {none} (disks {string.Join(", ", disks.Select(d => d.DiskId))})")
            : (new MachinePoint(machineId, p.Name, p.Sequences, p.TimeUnixMs, p.AllApp ? "application-consistent" : "crash-consistent", note), null);
}
