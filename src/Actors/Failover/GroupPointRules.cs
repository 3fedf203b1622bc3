using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>One machine of a failover with its disks, as point resolution sees them.</summary>
public sealed record MachineDisks(string MachineId, IReadOnlyList<DiskPoints> Disks);

/// <summary>
/// The <c>latest-group</c> point: the newest multi-VM consistent point of all the machines of a failover together. A
/// group bookmark is one marker inserted into every member disk's stream in one cut, under one name that is reserved on
/// every member disk first; so a name recorded on every disk of every machine is such a cut, whatever prefix it has
/// (<c>grp-</c>, <c>app-</c>, a planned failover's final point, an operator's). Choosing per machine would mix moments
/// across machines; here the choice is across machines: every machine gets the same name, each with its own disks'
/// sequences, or none does.
/// </summary>
public static class GroupPointRules
{
    /// <summary>For each machine, in the order given, its part of the newest common point; or an error naming what is missing where.</summary>
    public static (IReadOnlyList<MachinePoint>? Points, string? Error) ChooseLatestGroup(IReadOnlyList<MachineDisks> machines)
    {
        if (machines.Count == 0) return (null, "no machine to fail over");
        foreach (var m in machines)
        {
            if (m.Disks.Count == 0) return (null, $"machine {m.MachineId} has no disk with a replica on this master target");
            if (m.Disks.FirstOrDefault(d => d.LatestConsistentSequence <= 0) is { } empty)
                return (null, $"machine {m.MachineId}: disk {empty.DiskId} has nothing replicated yet");
        }
        var all = machines.SelectMany(m => m.Disks.Select(d => (m.MachineId, Disk: d))).ToList();
        var common = new HashSet<string>(all[0].Disk.Points.Select(p => p.BookmarkId), StringComparer.Ordinal);
        foreach (var (_, disk) in all.Skip(1)) common.IntersectWith(disk.Points.Select(p => p.BookmarkId));
        if (common.Count == 0) return (null, NoneCommon(machines, all));

        // Newest: the latest time any disk recorded it, then the higher sequences (points of one millisecond).
        var newest = common
            .Select(name => (Name: name, Points: all.Select(x => x.Disk.Points.Last(p => p.BookmarkId == name)).ToList()))
            .OrderByDescending(c => c.Points.Max(p => p.TimeUnixMs)).ThenByDescending(c => c.Points.Sum(p => p.Sequence)).ThenBy(c => c.Name, StringComparer.Ordinal)
            .First();
        var names = string.Join(", ", machines.Select(m => m.MachineId));
        var allApp = newest.Points.All(p => p.Kind == RecoveryPointKind.AppConsistent && p.AppConsistencyFailure is null);
        var result = machines.Select(m =>
        {
            var mine = m.Disks.ToDictionary(d => d.DiskId, d => d.Points.Last(p => p.BookmarkId == newest.Name));
            return new MachinePoint(m.MachineId, newest.Name, mine.ToDictionary(x => x.Key, x => x.Value.Sequence), mine.Values.Max(p => p.TimeUnixMs),
                allApp ? "application-consistent" : "crash-consistent",
                $"multi-VM consistent: the newest point recorded on every disk of {names}");
        }).ToList();
        return (result, null);
    }

    /// <summary>
    /// Why no name is common: walking the disks in order, the first disk that shares none of the names every disk before
    /// it has, with the newest of those and its own newest point (so an operator sees whether it fell behind or was never
    /// in the group).
    /// </summary>
    static string NoneCommon(IReadOnlyList<MachineDisks> machines, List<(string MachineId, DiskPoints Disk)> all)
    {
        var head = $"no recovery point is common to every disk of {string.Join(", ", machines.Select(m => m.MachineId))}";
        const string hint = "take a group bookmark across these machines (srctl bookmark --group, or a protection group with multi-VM consistency), " +
            "or fail over each machine to its own point (latest, latest-processed)";
        var names = new HashSet<string>(all[0].Disk.Points.Select(p => p.BookmarkId), StringComparer.Ordinal);
        if (names.Count == 0) return $"{head}: disk {all[0].Disk.DiskId} of {all[0].MachineId} has no recovery point at all; {hint}";
        var before = new List<(string MachineId, DiskPoints Disk)> { all[0] };
        foreach (var x in all.Skip(1))
        {
            var next = new HashSet<string>(names, StringComparer.Ordinal);
            next.IntersectWith(x.Disk.Points.Select(p => p.BookmarkId));
            if (next.Count == 0)
            {
                var machinesBefore = string.Join(", ", before.Select(b => b.MachineId).Distinct());
                var why = $"disk {x.Disk.DiskId} of {x.MachineId} has none of the {names.Count} point(s) that every disk before it (of {machinesBefore}) has " +
                      $"(the newest of those: {Describe(Newest(before[0].Disk.Points.Where(p => names.Contains(p.BookmarkId))))}; " +
                      $"its own newest: {Describe(Newest(x.Disk.Points))})";
                return $"{head}: {why}; {hint}";
            }
            names = next;
            before.Add(x);
        }
        return head;
    }

    static RecoveryPointView? Newest(IEnumerable<RecoveryPointView> points) =>
        points.OrderByDescending(p => p.TimeUnixMs).ThenByDescending(p => p.Sequence).FirstOrDefault();

    static string Describe(RecoveryPointView? p) =>
        p is null ? "none" : $"'{p.BookmarkId}' at {DateTimeOffset.FromUnixTimeMilliseconds(p.TimeUnixMs):yyyy-MM-ddTHH:mm:ss.fffZ}";
}
