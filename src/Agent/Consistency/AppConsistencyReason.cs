using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Agent.Consistency;

/// <summary>From a hook result to the reason an app-consistent request is recorded crash-consistent.</summary>
public static class AppConsistencyReason
{
    /// <summary>Null when the freeze succeeded with hooks configured (the point may claim app consistency).</summary>
    public static AppConsistencyFailure? Of(IApplicationFreezer freezer, HookResult freeze) =>
        !freezer.Configured ? AppConsistencyFailure.NoHooksConfigured
        : freeze.Outcome switch
        {
            HookOutcome.Ok => null,
            HookOutcome.TimedOut => AppConsistencyFailure.HookTimedOut,
            HookOutcome.Missing => AppConsistencyFailure.HookMissing,
            _ => AppConsistencyFailure.HookFailed,
        };
}
