namespace SiteRecovery.Agent.Consistency;

/// <summary>How a pre-freeze or post-thaw hook ended.</summary>
public enum HookOutcome
{
    /// <summary>Every configured hook ran and succeeded (or none is configured: see <see cref="IApplicationFreezer.Configured"/>).</summary>
    Ok,
    /// <summary>A hook exited non-zero or threw.</summary>
    Failed,
    /// <summary>A hook did not finish within its timeout and was killed.</summary>
    TimedOut,
    /// <summary>A configured hook does not exist (script path, fsfreeze binary, mount point) or cannot run on this OS.</summary>
    Missing,
}

/// <summary>The result of running hooks; <paramref name="Detail"/> names the hook and what went wrong.</summary>
public sealed record HookResult(HookOutcome Outcome, string? Detail)
{
    public static readonly HookResult Success = new(HookOutcome.Ok, null);
    public bool Succeeded => Outcome == HookOutcome.Ok;
}

/// <summary>
/// The seam between an application-consistent bookmark and the applications on the protected machine.
/// Before the bookmark the agent calls <see cref="FreezeAsync"/> (Linux: fsfreeze of listed mount points or a
/// user script; Windows: a VSS hook point); after the marker is in the stream it calls <see cref="ThawAsync"/>,
/// always, even when the freeze failed part way, so nothing is left frozen. A freeze that does not succeed
/// means the point must be recorded as crash-consistent and flagged, never as application-consistent.
/// </summary>
public interface IApplicationFreezer
{
    /// <summary>False when no hook is configured: an app-consistent request then yields a flagged crash-consistent point.</summary>
    bool Configured { get; }

    Task<HookResult> FreezeAsync(CancellationToken ct);

    Task<HookResult> ThawAsync(CancellationToken ct);
}
