using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Contracts.Control;

public enum RecoveryPointKind { CrashConsistent, AppConsistent }

public enum ReplicationState { Unregistered, InitialReplication, Protected, Resyncing }

/// <summary>Any message for a ProtectedDisk entity (identity: disk id).</summary>
public interface IProtectedDiskMessage : IEntityMessage
{
    string DiskId { get; }
    string IEntityMessage.EntityId => DiskId;
}

public interface IProtectedDiskCommand : IProtectedDiskMessage;

// ---- commands ----
public sealed record RegisterDisk(string DiskId, string MachineId, long SizeBytes, string ProcessServerId, string MasterTargetId) : IProtectedDiskCommand;

/// <summary>Monotonic: an AppliedThrough not above the recorded one is an idempotent no-op.</summary>
public sealed record RecordReplicationProgress(string DiskId, long AppliedThrough, long AppliedAtUnixMs, long BytesApplied) : IProtectedDiskCommand;

/// <summary>
/// <paramref name="AppConsistencyFailure"/>: an application-consistent point was asked for and could not be had
/// (a freeze hook failed, timed out, is missing or not configured); the point is then crash-consistent and this
/// says why. <paramref name="AppConsistencyFailureKind"/> is the same outcome as a value, for the disk's own machine:
/// its hook's failure, or <see cref="Control.AppConsistencyFailure.GroupMemberFailed"/> when its freeze succeeded and
/// another member's did not. Alerting keys on the kind (<see cref="RecoveryPointRecorded.AppConsistencyFailureKind"/>).
/// </summary>
public sealed record RecordRecoveryPoint(string DiskId, string BookmarkId, long Sequence, long TimeUnixMs, RecoveryPointKind Kind, string? AppConsistencyFailure = null,
    AppConsistencyFailure? AppConsistencyFailureKind = null) : IProtectedDiskCommand;

/// <summary>
/// Reserves <paramref name="BookmarkId"/> on the disk before its marker goes into the stream, so a name already used is
/// refused before anything is inserted and two concurrent requests for one name cannot both pass. Refused (Conflict) when
/// a point already has the name, or another live reservation holds it. The point recorded under the name consumes the
/// reservation; <see cref="ReleaseBookmarkName"/> drops it when the bookmark failed; past <paramref name="ExpiresAtUnixMs"/>
/// it no longer blocks anyone (a node that died mid-request leaves no name taken for ever).
/// </summary>
public sealed record ReserveBookmarkName(string DiskId, string BookmarkId, string ReservationId, long NowUnixMs, long ExpiresAtUnixMs) : IProtectedDiskCommand;

/// <summary>Drops a reservation that is still held by <paramref name="ReservationId"/>; anything else is a no-op.</summary>
public sealed record ReleaseBookmarkName(string DiskId, string BookmarkId, string ReservationId) : IProtectedDiskCommand;

public sealed record RequireResync(string DiskId, ResyncReason Reason) : IProtectedDiskCommand;

public sealed record CompleteResync(string DiskId, long Sequence) : IProtectedDiskCommand;

/// <summary>
/// The retention window moved: the journal now reaches back to <paramref name="OldestSequence"/> only, so every recovery
/// point below it is removed, and a point reported later below it is refused, because the data to reach it is gone.
/// </summary>
public sealed record ExpireRecoveryPoints(string DiskId, long OldestSequence) : IProtectedDiskCommand;

// ---- query ----
/// <summary>Returns <see cref="DiskView"/>; RPO is computed against <paramref name="NowUnixMs"/>.</summary>
public sealed record GetDisk(string DiskId, long NowUnixMs) : IProtectedDiskMessage;

public sealed record RecoveryPointView(string BookmarkId, long Sequence, long TimeUnixMs, RecoveryPointKind Kind, string? AppConsistencyFailure = null,
    AppConsistencyFailure? AppConsistencyFailureKind = null);

public sealed record DiskView(
    string DiskId,
    bool Registered,
    long SizeBytes,
    string? MachineId,
    string? ProcessServerId,
    string? MasterTargetId,
    long AppliedThrough,
    long? LastAppliedAtUnixMs,
    long BytesAppliedTotal,
    IReadOnlyList<RecoveryPointView> RecoveryPoints,
    ReplicationState State,
    ResyncReason? ResyncReason,
    // now − time of the latest recovery point (ms, never negative); null without recovery points.
    long? RpoMs,
    // The reason of the most recent resync, still set after it completed.
    ResyncReason? LastResyncReason = null,
    // Set while a hop's storage fault stops the disk's replication.
    ReplicationStopped? Stopped = null);

// ---- events ----
public interface IProtectedDiskEvent : IControlEvent
{
    string DiskId { get; }
}

[Manifest("disk-registered.v1")]
public sealed record DiskRegistered(string DiskId, string MachineId, long SizeBytes, string ProcessServerId, string MasterTargetId) : IProtectedDiskEvent;

[Manifest("disk-replication-progress-recorded.v1")]
public sealed record ReplicationProgressRecorded(string DiskId, long AppliedThrough, long AppliedAtUnixMs, long BytesApplied) : IProtectedDiskEvent;

[Manifest("disk-recovery-point-recorded.v1")]
/// <summary>
/// A recovery point. <paramref name="AppConsistencyFailureKind"/> is null in events recorded before it existed; a
/// reader then has only the <paramref name="AppConsistencyFailure"/> text.
/// </summary>
public sealed record RecoveryPointRecorded(string DiskId, string BookmarkId, long Sequence, long TimeUnixMs, RecoveryPointKind Kind, string? AppConsistencyFailure = null,
    AppConsistencyFailure? AppConsistencyFailureKind = null) : IProtectedDiskEvent;

[Manifest("disk-bookmark-name-reserved.v1")]
public sealed record BookmarkNameReserved(string DiskId, string BookmarkId, string ReservationId, long ExpiresAtUnixMs) : IProtectedDiskEvent;

[Manifest("disk-bookmark-name-released.v1")]
public sealed record BookmarkNameReleased(string DiskId, string BookmarkId, string ReservationId) : IProtectedDiskEvent;

/// <summary>A name held for a bookmark on its way (see <see cref="ReserveBookmarkName"/>).</summary>
public sealed record BookmarkNameReservation(string ReservationId, long ExpiresAtUnixMs);

[Manifest("disk-resync-required.v1")]
public sealed record ResyncRequired(string DiskId, ResyncReason Reason) : IProtectedDiskEvent;

[Manifest("disk-recovery-points-expired.v1")]
public sealed record RecoveryPointsExpired(string DiskId, long OldestSequence) : IProtectedDiskEvent;

[Manifest("disk-resync-completed.v1")]
public sealed record ResyncCompleted(string DiskId, long Sequence) : IProtectedDiskEvent;
