using System.Globalization;

namespace SiteRecovery.Actors.Placement;

/// <summary>
/// Pure sizing helper: how many process servers (by daily churn, with their cache) and master targets (by data-disk
/// slots) a set of machines needs.
/// <para>Process-server tiers (<see cref="DefaultTiers"/>):</para>
/// <code>
/// Tier    | total daily churn | churn per PS  | cache per PS
/// Small   | ≤ 500 GB/day      | 500 GB/day    | 300 GB
/// Medium  | ≤ 10 TB/day       | 2 TB/day      | 600 GB
/// Large   | &gt; 10 TB/day    | 4 TB/day      | 1.2 TB
/// </code>
/// (1 TB = 1024 GB here; cache ≈ 3.5–7 hours of the PS's churn, enough to ride out a target-side outage.)
/// <para>Master targets: 15 usable slots on a 16-slot MT, 31 on a 32-slot one; all disks of a machine on ONE MT,
/// so machines are bin-packed by disk count, first-fit decreasing. Process servers are bin-packed by machine churn
/// the same way (one machine's churn goes through one PS).</para>
/// <para>Unplaceable: no disks, more disks than one MT's usable slots, a disk over 1023 GiB, negative/NaN churn,
/// or churn above the largest tier's per-PS capacity.</para>
/// </summary>
public static class CapacityPlanner
{
    public const long GB = 1L << 30;

    public static IReadOnlyList<ProcessServerTier> DefaultTiers { get; } =
    [
        new("Small", 500, 500, 300 * GB),
        new("Medium", 10 * 1024, 2 * 1024, 600 * GB),
        new("Large", double.PositiveInfinity, 4 * 1024, 1200 * GB),
    ];

    public static CapacityPlan Recommend(IReadOnlyList<PlannedMachine> machines, CapacityPlanOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(machines);
        options ??= CapacityPlanOptions.Default;
        if (!CapacityLimits.AllowedDataDiskSlots.Contains(options.MasterTargetDataDiskSlots))
            throw new ArgumentOutOfRangeException(nameof(options), options.MasterTargetDataDiskSlots, "MasterTargetDataDiskSlots must be 16 or 32");
        var tiers = options.Tiers ?? DefaultTiers;
        if (tiers.Count == 0) throw new ArgumentException("at least one process-server tier is required", nameof(options));

        var usable = options.MasterTargetDataDiskSlots - CapacityLimits.RetentionSlots;
        var largestPs = tiers.Max(t => t.ChurnPerServerGBPerDay);

        var unplaceable = new List<UnplaceableMachine>();
        var placeable = new List<PlannedMachine>();
        foreach (var m in machines)
        {
            var reason = WhyUnplaceable(m, usable, options.MasterTargetDataDiskSlots, largestPs);
            if (reason is null) placeable.Add(m);
            else unplaceable.Add(new UnplaceableMachine(m.MachineId, reason));
        }

        var totalChurn = placeable.Sum(m => m.DailyChurnGB);
        var busiest = placeable.Count == 0 ? 0 : placeable.Max(m => m.DailyChurnGB);
        var tier = tiers.FirstOrDefault(t => totalChurn <= t.MaxTotalDailyChurnGB && busiest <= t.ChurnPerServerGBPerDay) ?? tiers[^1];

        var mtBins = FirstFitDecreasing(placeable, m => m.DiskSizesBytes.Count, usable);
        var psBins = FirstFitDecreasing(placeable, m => m.DailyChurnGB, tier.ChurnPerServerGBPerDay);

        return new CapacityPlan(
            tier,
            psBins.Count,
            tier.CacheBytes,
            psBins.Count * tier.CacheBytes,
            mtBins.Count,
            usable,
            mtBins,
            psBins,
            unplaceable);
    }

    private static string? WhyUnplaceable(PlannedMachine m, int usable, int slots, double largestPs)
    {
        var disks = m.DiskSizesBytes ?? [];
        if (disks.Count == 0) return "has no disks";
        if (disks.Count > usable)
        {
            var why = $"has {disks.Count} disks; at most {usable} data disks fit one master target ({slots} slots, {CapacityLimits.RetentionSlots} reserved for retention) and a machine's disks are never split";
            return disks.Count <= CapacityLimits.MaxDisks ? why + "; use 32-slot master targets" : why;
        }

        for (var i = 0; i < disks.Count; i++)
        {
            if (disks[i] <= 0 || disks[i] > CapacityLimits.MaxDiskBytes)
                return $"disk {i} is {disks[i]} bytes; each disk must be 1 byte to 1023 GiB ({CapacityLimits.MaxDiskBytes} bytes)";
        }

        if (double.IsNaN(m.DailyChurnGB) || m.DailyChurnGB < 0) return $"daily churn must be >= 0 GB (was {m.DailyChurnGB})";
        if (m.DailyChurnGB > largestPs)
            return $"daily churn {m.DailyChurnGB.ToString("0.##", CultureInfo.InvariantCulture)} GB exceeds one process server's capacity ({largestPs} GB/day)";
        return null;
    }

    /// <summary>First-fit decreasing by <paramref name="size"/> (ties by machine id), bins of <paramref name="capacity"/>.</summary>
    private static List<IReadOnlyList<string>> FirstFitDecreasing(IEnumerable<PlannedMachine> machines, Func<PlannedMachine, double> size, double capacity)
    {
        var bins = new List<(double Used, List<string> Ids)>();
        foreach (var m in machines.OrderByDescending(size).ThenBy(m => m.MachineId, StringComparer.Ordinal))
        {
            var s = size(m);
            var index = bins.FindIndex(b => b.Used + s <= capacity);
            if (index < 0)
            {
                bins.Add((s, [m.MachineId]));
            }
            else
            {
                bins[index].Ids.Add(m.MachineId);
                bins[index] = (bins[index].Used + s, bins[index].Ids);
            }
        }

        return bins.Select(b => (IReadOnlyList<string>)b.Ids).ToList();
    }
}
