namespace SiteRecovery.Actors.Placement;

/// <summary>A machine to plan for: its disk sizes and its estimated daily churn (data written per day), GB.</summary>
public sealed record PlannedMachine(string MachineId, IReadOnlyList<long> DiskSizesBytes, double DailyChurnGB);

/// <summary>
/// A process-server size. A deployment uses the first tier (in order) whose <see cref="MaxTotalDailyChurnGB"/> covers the
/// total churn and whose <see cref="ChurnPerServerGBPerDay"/> covers the busiest single machine; otherwise the last tier.
/// </summary>
public sealed record ProcessServerTier(string Name, double MaxTotalDailyChurnGB, double ChurnPerServerGBPerDay, long CacheBytes);

/// <summary>Options of <see cref="CapacityPlanner.Recommend"/>.</summary>
/// <param name="MasterTargetDataDiskSlots">16 or 32; one slot is reserved for retention (15 or 31 usable).</param>
/// <param name="Tiers">Process-server tiers, smallest first; null = <see cref="CapacityPlanner.DefaultTiers"/>.</param>
public sealed record CapacityPlanOptions(int MasterTargetDataDiskSlots = 32, IReadOnlyList<ProcessServerTier>? Tiers = null)
{
    public static CapacityPlanOptions Default { get; } = new();
}

/// <summary>A machine the plan cannot place, and why.</summary>
public sealed record UnplaceableMachine(string MachineId, string Reason);

/// <summary>
/// Recommendation: <see cref="ProcessServers"/> of <see cref="Tier"/> (each with <see cref="CacheBytesPerProcessServer"/> of cache)
/// and <see cref="MasterTargets"/> master targets; the bins list which machines go where (first-fit decreasing).
/// </summary>
public sealed record CapacityPlan(
    ProcessServerTier Tier,
    int ProcessServers,
    long CacheBytesPerProcessServer,
    long TotalCacheBytes,
    int MasterTargets,
    int UsableSlotsPerMasterTarget,
    IReadOnlyList<IReadOnlyList<string>> MasterTargetBins,
    IReadOnlyList<IReadOnlyList<string>> ProcessServerBins,
    IReadOnlyList<UnplaceableMachine> Unplaceable);
