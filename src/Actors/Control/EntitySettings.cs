namespace SiteRecovery.Actors.Control;

/// <summary>Per-entity runtime settings: snapshot cadence and idle passivation.</summary>
/// <param name="SnapshotEvery">Save a snapshot every N persisted events (must be &gt; 0).</param>
/// <param name="PassivateAfter">Idle time after which an entity asks its region to stop it; null = never.</param>
public sealed record EntitySettings(int SnapshotEvery, TimeSpan? PassivateAfter)
{
    public static EntitySettings Default { get; } = new(100, TimeSpan.FromMinutes(2));
}
