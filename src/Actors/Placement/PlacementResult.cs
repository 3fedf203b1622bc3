using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Placement;

/// <summary>
/// Why a machine could not be placed. <see cref="NeedsMasterTarget"/> / <see cref="NeedsProcessServer"/> say what to add;
/// <see cref="Message"/> says it in words, e.g. "add a master target: no master target has 5 free data-disk slots (most free: 3 on mt-2)".
/// </summary>
public sealed record PlacementFailure(bool NeedsMasterTarget, bool NeedsProcessServer, string Message);

/// <summary>Either a <see cref="PlacementDecision"/> or a <see cref="PlacementFailure"/>.</summary>
public abstract record PlacementResult
{
    private PlacementResult() { }

    public sealed record Placed(PlacementDecision Decision) : PlacementResult;

    public sealed record Failed(PlacementFailure Failure) : PlacementResult;
}
