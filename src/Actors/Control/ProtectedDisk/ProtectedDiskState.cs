using System.Collections.Immutable;
using System.Text.Json.Serialization;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.Control.ProtectedDisk;

/// <summary>Immutable state of one protected disk with pure <see cref="Decide"/> and <see cref="Apply"/>.</summary>
[Manifest("disk-state.v1")]
public sealed record ProtectedDiskState(
    string DiskId,
    ReplicationState State,
    string? MachineId,
    long SizeBytes,
    string? ProcessServerId,
    string? MasterTargetId,
    long AppliedThrough,
    long? LastAppliedAtUnixMs,
    long BytesAppliedTotal,
    ImmutableList<RecoveryPointView> RecoveryPoints,
    ResyncReason? ResyncReason,
    // Why the last resync ran; kept after it completes so a resync shorter than a poll is still explained.
    ResyncReason? LastResyncReason = null,
    // Oldest sequence the retention journal still reaches: no point below it can be (re)recorded.
    long RetainedFromSequence = 0,
    // Bookmark names reserved by requests on their way, by name (null in snapshots taken before reservations existed).
    ImmutableDictionary<string, BookmarkNameReservation>? NameReservations = null,
    // Set while a hop's storage fault stops the disk's replication (cleared when it resumes).
    ReplicationStopped? Stopped = null)
    : IControlSnapshot, IAggregateState<ProtectedDiskState, IProtectedDiskCommand, IProtectedDiskEvent>
{
    public static ProtectedDiskState Empty(string diskId) =>
        new(diskId, ReplicationState.Unregistered, null, 0, null, null, 0, null, 0, [], null);

    [JsonIgnore]
    public bool Registered => State != ReplicationState.Unregistered;

    public Decision<IProtectedDiskEvent> Decide(IProtectedDiskCommand command)
    {
        if (!Registered && command is not RegisterDisk)
            return Decision<IProtectedDiskEvent>.Reject(RejectionReason.NotRegistered,
                $"{command.GetType().Name}.DiskId '{command.DiskId}' is not registered; send RegisterDisk first");

        return command switch
        {
            RegisterDisk c => DecideRegister(c),
            RecordReplicationProgress c => DecideProgress(c),
            RecordRecoveryPoint c => DecideRecoveryPoint(c),
            RequireResync c => DecideRequireResync(c),
            CompleteResync c => DecideCompleteResync(c),
            ExpireRecoveryPoints c => DecideExpire(c),
            ReserveBookmarkName c => DecideReserve(c),
            ReleaseBookmarkName c => DecideRelease(c),
            StopReplication c => DecideStop(c),
            ResumeReplication c => Stopped is null
                ? Decision<IProtectedDiskEvent>.NoOp
                : Decision<IProtectedDiskEvent>.Accept(new ReplicationResumed(c.DiskId, c.AtUnixMs)),
            RecordAgentClockSkew c => c.BoundMs > 0 && c.AtUnixMs >= 0
                ? Decision<IProtectedDiskEvent>.Accept(new AgentClockSkewObserved(c.DiskId, c.SkewMs, c.BoundMs, c.Exceeded, c.AtUnixMs))
                : Invalid($"{nameof(RecordAgentClockSkew)}.BoundMs must be > 0 and AtUnixMs >= 0 (were {c.BoundMs}, {c.AtUnixMs})"),
            RecordWriterRefused c => Rules.Blank(c.OfferedFingerprint) || c.AtUnixMs < 0
                ? Invalid($"{nameof(RecordWriterRefused)}.OfferedFingerprint must be non-empty and AtUnixMs >= 0")
                : Decision<IProtectedDiskEvent>.Accept(new WriterRefusedObserved(c.DiskId, c.Reason, c.BoundFingerprint, c.OfferedFingerprint, c.Detail, c.AtUnixMs)),
            ResolveWriterRefusal c => c.AtUnixMs < 0
                ? Invalid($"{nameof(ResolveWriterRefusal)}.AtUnixMs must be >= 0")
                : Decision<IProtectedDiskEvent>.Accept(new WriterRefusalResolved(c.DiskId, c.Released, c.AtUnixMs)),
            _ => Decision<IProtectedDiskEvent>.Reject(RejectionReason.InvalidArgument,
                $"Command type {command.GetType().Name} is not handled by ProtectedDisk"),
        };
    }

    private Decision<IProtectedDiskEvent> DecideRegister(RegisterDisk c)
    {
        const string cmd = nameof(RegisterDisk);
        if (Rules.Blank(c.DiskId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.DiskId)));
        if (Rules.Blank(c.MachineId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.MachineId)));
        if (c.SizeBytes <= 0) return Invalid(Rules.MustBePositive(cmd, nameof(c.SizeBytes), c.SizeBytes));
        if (Rules.Blank(c.ProcessServerId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.ProcessServerId)));
        if (Rules.Blank(c.MasterTargetId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.MasterTargetId)));

        if (Registered)
        {
            return MachineId == c.MachineId && SizeBytes == c.SizeBytes
                   && ProcessServerId == c.ProcessServerId && MasterTargetId == c.MasterTargetId
                ? Decision<IProtectedDiskEvent>.NoOp
                : Decision<IProtectedDiskEvent>.Reject(RejectionReason.AlreadyRegistered,
                    $"{cmd}.DiskId '{c.DiskId}' is already registered with different MachineId/SizeBytes/ProcessServerId/MasterTargetId");
        }

        return Decision<IProtectedDiskEvent>.Accept(
            new DiskRegistered(c.DiskId, c.MachineId, c.SizeBytes, c.ProcessServerId, c.MasterTargetId));
    }

    private Decision<IProtectedDiskEvent> DecideProgress(RecordReplicationProgress c)
    {
        const string cmd = nameof(RecordReplicationProgress);
        if (c.AppliedThrough < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.AppliedThrough), c.AppliedThrough));
        if (c.AppliedAtUnixMs < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.AppliedAtUnixMs), c.AppliedAtUnixMs));
        if (c.BytesApplied < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.BytesApplied), c.BytesApplied));

        // Monotonic: a stale or repeated report is an idempotent no-op, not an error.
        if (c.AppliedThrough <= AppliedThrough) return Decision<IProtectedDiskEvent>.NoOp;

        return Decision<IProtectedDiskEvent>.Accept(
            new ReplicationProgressRecorded(c.DiskId, c.AppliedThrough, c.AppliedAtUnixMs, c.BytesApplied));
    }

    private Decision<IProtectedDiskEvent> DecideRecoveryPoint(RecordRecoveryPoint c)
    {
        const string cmd = nameof(RecordRecoveryPoint);
        if (Rules.Blank(c.BookmarkId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.BookmarkId)));
        if (c.Sequence < 1) return Invalid($"{cmd}.Sequence must be >= 1 (was {c.Sequence})");
        if (c.TimeUnixMs < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.TimeUnixMs), c.TimeUnixMs));
        if (!Enum.IsDefined(c.Kind)) return Invalid(Rules.MustBeDefined(cmd, nameof(c.Kind), c.Kind));
        if (c.Kind == RecoveryPointKind.AppConsistent && c.AppConsistencyFailure is not null)
            return Invalid($"{cmd}.Kind cannot be AppConsistent when AppConsistencyFailure is set ({c.AppConsistencyFailure})");
        if (c.AppConsistencyFailureKind is { } failureKind)
        {
            if (!Enum.IsDefined(failureKind)) return Invalid(Rules.MustBeDefined(cmd, nameof(c.AppConsistencyFailureKind), failureKind));
            if (c.AppConsistencyFailure is null) return Invalid($"{cmd}.AppConsistencyFailureKind ({failureKind}) needs AppConsistencyFailure, the text that says why");
        }

        if (RecoveryPoints.Find(p => p.BookmarkId == c.BookmarkId) is { } same)
            return same.Sequence == c.Sequence
                ? Decision<IProtectedDiskEvent>.NoOp
                : Decision<IProtectedDiskEvent>.Reject(RejectionReason.Conflict, NameTaken(c.BookmarkId, same));
        if (c.Sequence < RetainedFromSequence)
            return Decision<IProtectedDiskEvent>.Reject(RejectionReason.OutOfOrder,
                $"{cmd}.Sequence {c.Sequence} is before the retention window, which starts at sequence {RetainedFromSequence}");

        // A point whose marker is durable is a valid point wherever it falls in the retained stream. Points reach the
        // disk from several coordinators (the master target's own, a group's, the schedules), so one may arrive after a
        // later one: it is filed in sequence order, not refused, or the catalogue would lose a point the journal holds.
        return Decision<IProtectedDiskEvent>.Accept(
            new RecoveryPointRecorded(c.DiskId, c.BookmarkId, c.Sequence, c.TimeUnixMs, c.Kind, c.AppConsistencyFailure, c.AppConsistencyFailureKind));
    }

    [JsonIgnore]
    public ImmutableDictionary<string, BookmarkNameReservation> Reservations => NameReservations ?? ImmutableDictionary<string, BookmarkNameReservation>.Empty;

    private string NameTaken(string name, RecoveryPointView point) =>
        $"bookmark '{name}' already names the recovery point at #{point.Sequence} on disk {DiskId} (taken {DateTimeOffset.FromUnixTimeMilliseconds(point.TimeUnixMs):u}); choose another name";

    private Decision<IProtectedDiskEvent> DecideReserve(ReserveBookmarkName c)
    {
        const string cmd = nameof(ReserveBookmarkName);
        if (Rules.Blank(c.BookmarkId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.BookmarkId)));
        if (Rules.Blank(c.ReservationId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.ReservationId)));
        if (c.ExpiresAtUnixMs <= c.NowUnixMs) return Invalid($"{cmd}.ExpiresAtUnixMs ({c.ExpiresAtUnixMs}) must be after NowUnixMs ({c.NowUnixMs})");
        if (RecoveryPoints.Find(p => p.BookmarkId == c.BookmarkId) is { } point)
            return Decision<IProtectedDiskEvent>.Reject(RejectionReason.Conflict, NameTaken(c.BookmarkId, point));
        if (Reservations.TryGetValue(c.BookmarkId, out var held) && held.ExpiresAtUnixMs > c.NowUnixMs)
            return held.ReservationId == c.ReservationId
                ? Decision<IProtectedDiskEvent>.NoOp
                : Decision<IProtectedDiskEvent>.Reject(RejectionReason.Conflict,
                    $"bookmark '{c.BookmarkId}' is being taken on disk {DiskId} by another request; choose another name or wait for it");
        return Decision<IProtectedDiskEvent>.Accept(new BookmarkNameReserved(c.DiskId, c.BookmarkId, c.ReservationId, c.ExpiresAtUnixMs));
    }

    private Decision<IProtectedDiskEvent> DecideRelease(ReleaseBookmarkName c) =>
        Reservations.TryGetValue(c.BookmarkId, out var held) && held.ReservationId == c.ReservationId
            ? Decision<IProtectedDiskEvent>.Accept(new BookmarkNameReleased(c.DiskId, c.BookmarkId, c.ReservationId))
            : Decision<IProtectedDiskEvent>.NoOp;

    private Decision<IProtectedDiskEvent> DecideRequireResync(RequireResync c)
    {
        if (!Enum.IsDefined(c.Reason)) return Invalid(Rules.MustBeDefined(nameof(RequireResync), nameof(c.Reason), c.Reason));
        if (State is ReplicationState.Resyncing or ReplicationState.InitialReplication && ResyncReason == c.Reason)
            return Decision<IProtectedDiskEvent>.NoOp;
        return Decision<IProtectedDiskEvent>.Accept(new ResyncRequired(c.DiskId, c.Reason));
    }

    private Decision<IProtectedDiskEvent> DecideExpire(ExpireRecoveryPoints c)
    {
        if (c.OldestSequence < 0) return Invalid(Rules.MustBeNonNegative(nameof(ExpireRecoveryPoints), nameof(c.OldestSequence), c.OldestSequence));
        // The window only moves forward; an older cut (a late or repeated report) changes nothing.
        if (c.OldestSequence <= RetainedFromSequence) return Decision<IProtectedDiskEvent>.NoOp;
        return Decision<IProtectedDiskEvent>.Accept(new RecoveryPointsExpired(c.DiskId, c.OldestSequence));
    }

    private Decision<IProtectedDiskEvent> DecideStop(StopReplication c)
    {
        if (!Enum.IsDefined(c.Reason)) return Invalid(Rules.MustBeDefined(nameof(StopReplication), nameof(c.Reason), c.Reason));
        if (Stopped is { } s && s.Reason == c.Reason && s.StoppedAfter == c.StoppedAfter) return Decision<IProtectedDiskEvent>.NoOp;
        return Decision<IProtectedDiskEvent>.Accept(new ReplicationStopped(c.DiskId, c.Reason, c.StoppedAfter, c.Detail ?? "", c.AtUnixMs));
    }

    private Decision<IProtectedDiskEvent> DecideCompleteResync(CompleteResync c)
    {
        const string cmd = nameof(CompleteResync);
        if (c.Sequence < 0) return Invalid(Rules.MustBeNonNegative(cmd, nameof(c.Sequence), c.Sequence));
        if (State is not (ReplicationState.Resyncing or ReplicationState.InitialReplication))
            return Decision<IProtectedDiskEvent>.Reject(RejectionReason.InvalidState,
                $"{cmd}: disk '{DiskId}' is {State}; only a disk in InitialReplication or Resyncing can complete a resync");
        return Decision<IProtectedDiskEvent>.Accept(new ResyncCompleted(c.DiskId, c.Sequence));
    }

    public ProtectedDiskState Apply(IProtectedDiskEvent @event) => @event switch
    {
        DiskRegistered e => this with
        {
            State = ReplicationState.InitialReplication,
            ResyncReason = Contracts.Wire.ResyncReason.InitialReplication,
            LastResyncReason = Contracts.Wire.ResyncReason.InitialReplication,
            MachineId = e.MachineId,
            SizeBytes = e.SizeBytes,
            ProcessServerId = e.ProcessServerId,
            MasterTargetId = e.MasterTargetId,
        },
        ReplicationProgressRecorded e => this with
        {
            AppliedThrough = Math.Max(AppliedThrough, e.AppliedThrough),
            LastAppliedAtUnixMs = e.AppliedAtUnixMs,
            BytesAppliedTotal = BytesAppliedTotal + e.BytesApplied,
        },
        BookmarkNameReserved e => this with { NameReservations = Reservations.SetItem(e.BookmarkId, new BookmarkNameReservation(e.ReservationId, e.ExpiresAtUnixMs)) },
        BookmarkNameReleased e => this with { NameReservations = Reservations.Remove(e.BookmarkId) },
        RecoveryPointRecorded e => this with
        {
            NameReservations = NameReservations?.Remove(e.BookmarkId),
            RecoveryPoints = RecoveryPoints.Insert(
                PositionAfter(RecoveryPoints, e.Sequence),
                new RecoveryPointView(e.BookmarkId, e.Sequence, e.TimeUnixMs, e.Kind, e.AppConsistencyFailure, e.AppConsistencyFailureKind)),
        },
        RecoveryPointsExpired e => this with
        {
            RecoveryPoints = RecoveryPoints.RemoveAll(p => p.Sequence < e.OldestSequence),
            RetainedFromSequence = Math.Max(RetainedFromSequence, e.OldestSequence),
        },
        ResyncRequired e => this with { State = ReplicationState.Resyncing, ResyncReason = e.Reason, LastResyncReason = e.Reason },
        ResyncCompleted e => this with
        {
            State = ReplicationState.Protected,
            ResyncReason = null,
            AppliedThrough = Math.Max(AppliedThrough, e.Sequence),
        },
        ReplicationStopped e => this with { Stopped = e },
        ReplicationResumed => this with { Stopped = null },
        WriterRefusedObserved or WriterRefusalResolved => this, // for the alerts only: the binding itself lives at the process server
        AgentClockSkewObserved => this, // for the alerts only: retention goes by the master target's clock whatever the skew
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown ProtectedDisk event"),
    };

    public DiskView ToView(long nowUnixMs) => new(
        DiskId,
        Registered,
        SizeBytes,
        MachineId,
        ProcessServerId,
        MasterTargetId,
        AppliedThrough,
        LastAppliedAtUnixMs,
        BytesAppliedTotal,
        RecoveryPoints,
        State,
        ResyncReason,
        RecoveryPoints.Count == 0 ? null : Math.Max(0, nowUnixMs - RecoveryPoints[^1].TimeUnixMs),
        LastResyncReason,
        Stopped);

    /// <summary>Where a point at <paramref name="sequence"/> goes: after every point at or below it, so points at one sequence keep their arrival order.</summary>
    private static int PositionAfter(ImmutableList<RecoveryPointView> points, long sequence)
    {
        var i = points.Count;
        while (i > 0 && points[i - 1].Sequence > sequence) i--;
        return i;
    }

    private static Decision<IProtectedDiskEvent> Invalid(string message) =>
        Decision<IProtectedDiskEvent>.Reject(RejectionReason.InvalidArgument, message);
}
