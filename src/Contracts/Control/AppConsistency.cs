namespace SiteRecovery.Contracts.Control;

/// <summary>Why a point requested application-consistent was recorded crash-consistent.</summary>
public enum AppConsistencyFailure
{
    /// <summary>A freeze hook exited non-zero or threw.</summary>
    HookFailed,
    /// <summary>A freeze hook did not finish within its timeout and was killed.</summary>
    HookTimedOut,
    /// <summary>A configured hook does not exist or cannot run on this OS (script, fsfreeze, mount point, VSS).</summary>
    HookMissing,
    /// <summary>The machine's agent has no freeze hook configured.</summary>
    NoHooksConfigured,
    /// <summary>
    /// This machine's freeze succeeded, but another member's of the same group bookmark did not, so the group's point
    /// is crash-consistent on every member. Not a failure of this machine: it raises no alert for it.
    /// </summary>
    GroupMemberFailed,
}

/// <summary>
/// Outcome of an application-consistent bookmark on one machine (the alert target). Persisted by whichever actor
/// records the bookmark's points; the alert evaluator follows them from the journal: a failure raises
/// <see cref="AlertKind.AppConsistencyFailed"/> for the machine, a later success clears it.
/// </summary>
public interface IAppConsistencyEvent : IControlEvent
{
    string MachineId { get; }
    string BookmarkId { get; }
    long TimeUnixMs { get; }
}

/// <summary>
/// A point requested application-consistent was recorded crash-consistent because the freeze did not succeed.
/// <paramref name="DiskId"/> is set when only one disk's point is concerned (null: the whole machine).
/// <paramref name="Detail"/> names the hook and what went wrong (hook output shortened; no secrets).
/// </summary>
[Manifest("app-consistency-failed.v1")]
public sealed record AppConsistencyFailed(string MachineId, string? DiskId, string BookmarkId, AppConsistencyFailure Reason, string Detail, long TimeUnixMs)
    : IAppConsistencyEvent;

/// <summary>An application-consistent point was recorded for the machine (or one of its disks).</summary>
[Manifest("app-consistent-point-recorded.v1")]
public sealed record AppConsistentPointRecorded(string MachineId, string? DiskId, string BookmarkId, long TimeUnixMs) : IAppConsistencyEvent;
