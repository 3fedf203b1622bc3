namespace SiteRecovery.Actors.Placement;

/// <summary>A master target that could take a machine: its id and usable data-disk slots still free.</summary>
public sealed record MasterTargetCandidate(string Id, int FreeSlots);

/// <summary>A process server that could take a machine: its id and churn capacity still unreserved, MB/s.</summary>
public sealed record ProcessServerCandidate(string Id, double ChurnCapacityLeftMBps);
