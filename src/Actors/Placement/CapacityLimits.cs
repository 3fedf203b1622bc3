namespace SiteRecovery.Actors.Placement;

/// <summary>
/// The limits placement and the capacity planner size against, owned here so the entities that enforce them (a master
/// target's slots, a machine's validation) depend on placement and not the other way round.
/// </summary>
public static class CapacityLimits
{
    /// <summary>Slots of a master target reserved for its retention volume.</summary>
    public const int RetentionSlots = 1;

    /// <summary>The data-disk slots a master target may have.</summary>
    public static readonly IReadOnlyList<int> AllowedDataDiskSlots = [16, 32];

    /// <summary>A 32-slot master target has 31 usable data-disk slots and all disks of a machine share one.</summary>
    public const int MaxDisks = 31;

    /// <summary>1023 GiB.</summary>
    public const long MaxDiskBytes = 1023L << 30;
}
