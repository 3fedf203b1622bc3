using System.Globalization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Placement;

/// <summary>
/// Pure placement of one machine. Rules:
/// <list type="bullet">
/// <item>All disks of the machine go on ONE master target that has at least as many free usable slots as the machine
/// has disks (never split). Among those: most free slots, then id (ordinal) — spreads load, deterministic.</item>
/// <item>The machine's churn goes through ONE process server with at least the machine's churn estimate left.
/// Among those: most capacity left, then id (ordinal). Process servers and master targets are chosen independently
/// (no one-to-one mapping).</item>
/// <item>If either is missing, the failure says what to add (both, if both are missing).</item>
/// </list>
/// </summary>
public static class Placement
{
    public static PlacementResult Place(
        IReadOnlyCollection<MachineDisk> disks,
        IReadOnlyCollection<MasterTargetCandidate> masterTargets,
        IReadOnlyCollection<ProcessServerCandidate> processServers,
        double churnEstimateMBps)
    {
        ArgumentNullException.ThrowIfNull(disks);
        ArgumentNullException.ThrowIfNull(masterTargets);
        ArgumentNullException.ThrowIfNull(processServers);
        if (double.IsNaN(churnEstimateMBps) || churnEstimateMBps < 0)
            throw new ArgumentOutOfRangeException(nameof(churnEstimateMBps), churnEstimateMBps, "churn estimate must be >= 0 MB/s");

        var needSlots = disks.Count;
        var mt = masterTargets
            .Where(m => m.FreeSlots >= needSlots)
            .OrderByDescending(m => m.FreeSlots).ThenBy(m => m.Id, StringComparer.Ordinal)
            .FirstOrDefault();
        var ps = processServers
            .Where(p => p.ChurnCapacityLeftMBps >= churnEstimateMBps)
            .OrderByDescending(p => p.ChurnCapacityLeftMBps).ThenBy(p => p.Id, StringComparer.Ordinal)
            .FirstOrDefault();

        if (mt is not null && ps is not null)
            return new PlacementResult.Placed(new PlacementDecision(mt.Id, ps.Id));

        var messages = new List<string>();
        if (mt is null)
        {
            var best = masterTargets.OrderByDescending(m => m.FreeSlots).ThenBy(m => m.Id, StringComparer.Ordinal).FirstOrDefault();
            messages.Add(best is null
                ? $"add a master target: no master target is available for {needSlots} data disks"
                : $"add a master target: no master target has {needSlots} free data-disk slots (most free: {best.FreeSlots} on {best.Id})");
        }

        if (ps is null)
        {
            var best = processServers.OrderByDescending(p => p.ChurnCapacityLeftMBps).ThenBy(p => p.Id, StringComparer.Ordinal).FirstOrDefault();
            var need = Format(churnEstimateMBps);
            messages.Add(best is null
                ? $"add a process server: no process server is available for {need} MB/s of churn"
                : $"add a process server: no process server has {need} MB/s of churn capacity left (most left: {Format(best.ChurnCapacityLeftMBps)} MB/s on {best.Id})");
        }

        return new PlacementResult.Failed(new PlacementFailure(mt is null, ps is null, string.Join("; ", messages)));
    }

    private static string Format(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
