using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Consistency;

public enum GroupBookmarkPhase { Holding, Committing, AwaitingDurable, Committed, Aborted }

/// <summary>Why a group bookmark was abandoned; every abort leaves no point on any disk.</summary>
public enum GroupAbortReason
{
    /// <summary>An agent answered the hold with an error (unknown disk, resync in progress, another hold…).</summary>
    HoldRefused,
    /// <summary>An agent did not answer the hold in time, or its path is gone.</summary>
    HoldTimedOut,
    /// <summary>An agent could not honour the commit (its lease ran out, it lost its connection) or did not answer it.</summary>
    CommitFailed,
    /// <summary>A marker did not become durable at the master target in time.</summary>
    NotDurable,
    /// <summary>A marker landed inside a resync of its disk (the master target's resync ranges): no consistent state there.</summary>
    InsideResync,
}

/// <summary>What the coordinator learns, one fact at a time.</summary>
public abstract record GroupBookmarkInput;
/// <summary><paramref name="Unreachable"/>: the error is the path's (no answer, not connected), not the agent's refusal.</summary>
public sealed record HeldReported(string Machine, IReadOnlyDictionary<string, long> Sequences, string? Error, string? FreezeFailure, bool Unreachable = false,
    AppConsistencyFailure? FreezeFailureKind = null, bool Retryable = false) : GroupBookmarkInput;
public sealed record CommitReported(string Machine, bool Marked, IReadOnlyDictionary<string, long> Markers, double HeldMs, string? Error) : GroupBookmarkInput;
public sealed record MarkerDurable(string Disk, long Sequence) : GroupBookmarkInput;
/// <summary>The wait of the current phase ran out; machines (or disks) still owed an answer are the culprits.</summary>
public sealed record PhaseTimedOut : GroupBookmarkInput;
/// <summary>A disk's marker landed inside a resync of that disk: the cut is not a state the disk had. Retryable once the resync ends.</summary>
public sealed record MarkerInsideResync(string Disk, string Detail) : GroupBookmarkInput;

/// <summary>What the coordinator must do next.</summary>
public abstract record GroupBookmarkAction;
public sealed record SendCommits : GroupBookmarkAction;
public sealed record SendAborts(GroupAbortReason Reason, string Detail) : GroupBookmarkAction;
public sealed record RecordPoints(IReadOnlyList<RecordRecoveryPoint> Points) : GroupBookmarkAction;

/// <summary>
/// One group bookmark, as a pure state machine. The phases:
/// Holding (every machine must report held) → Committing (every machine must report its markers, each one
/// right after its held sequence) → AwaitingDurable (every disk's marker durable at the target) → Committed,
/// which is the only step that emits <see cref="RecordPoints"/> — one point per disk, all with the same id,
/// time and kind. Any refusal, timeout or failed commit goes to Aborted with <see cref="SendAborts"/> and
/// records nothing. Kind is AppConsistent only when it was asked for and every machine's freeze succeeded;
/// otherwise the point is CrashConsistent and, when app consistency was asked for, carries the reasons.
/// </summary>
public sealed record GroupBookmarkState(
    string BookmarkId,
    bool AppConsistentRequested,
    long TimeUnixMs,
    ImmutableDictionary<string, ImmutableList<string>> DisksByMachine,
    GroupBookmarkPhase Phase,
    ImmutableDictionary<string, long> Held,
    ImmutableDictionary<string, string> FreezeFailures,
    ImmutableDictionary<string, long> Markers,
    ImmutableHashSet<string> CommittedMachines,
    ImmutableHashSet<string> DurableDisks,
    GroupAbortReason? AbortReason,
    string? AbortDetail)
{
    public static GroupBookmarkState Start(string bookmarkId, bool appConsistent, long timeUnixMs, IReadOnlyDictionary<string, IReadOnlyList<string>> disksByMachine)
    {
        if (disksByMachine.Count == 0 || disksByMachine.Values.Any(d => d.Count == 0))
            throw new ArgumentException("a group bookmark needs at least one machine, each with at least one disk", nameof(disksByMachine));
        return new(bookmarkId, appConsistent, timeUnixMs,
            disksByMachine.ToImmutableDictionary(kv => kv.Key, kv => kv.Value.ToImmutableList()),
            GroupBookmarkPhase.Holding, ImmutableDictionary<string, long>.Empty, ImmutableDictionary<string, string>.Empty,
            ImmutableDictionary<string, long>.Empty, ImmutableHashSet<string>.Empty, ImmutableHashSet<string>.Empty, null, null);
    }

    /// <summary>Per machine whose freeze did not succeed: the kind its agent reported (absent from an agent that predates it).</summary>
    public ImmutableDictionary<string, AppConsistencyFailure> FreezeFailureKinds { get; init; } = ImmutableDictionary<string, AppConsistencyFailure>.Empty;

    /// <summary>Aborted by a member's refusal that a later attempt can get past (<see cref="Contracts.Wire.RetryableRefusal"/>).</summary>
    public bool AbortRetryable { get; init; }

    public IEnumerable<string> AllDisks => DisksByMachine.Values.SelectMany(d => d);

    /// <summary>
    /// What a disk's point says about its own machine when app consistency was asked for and not had: that machine's
    /// reported kind, <see cref="AppConsistencyFailure.GroupMemberFailed"/> when its freeze succeeded and another's did
    /// not, null when nothing failed (or its agent reported a failure without a kind: then only the text tells).
    /// </summary>
    public AppConsistencyFailure? FailureKindOf(string machine) =>
        AppConsistencyFailure is null ? null
        : FreezeFailureKinds.TryGetValue(machine, out var kind) ? kind
        : FreezeFailures.ContainsKey(machine) ? null
        : Contracts.Control.AppConsistencyFailure.GroupMemberFailed;

    public bool Finished => Phase is GroupBookmarkPhase.Committed or GroupBookmarkPhase.Aborted;

    /// <summary>The point's kind as it would be recorded now.</summary>
    public RecoveryPointKind Kind => AppConsistentRequested && FreezeFailures.IsEmpty ? RecoveryPointKind.AppConsistent : RecoveryPointKind.CrashConsistent;

    /// <summary>Why the point is not app-consistent although that was asked for; null otherwise.</summary>
    public string? AppConsistencyFailure => !AppConsistentRequested || FreezeFailures.IsEmpty ? null
        : string.Join("; ", FreezeFailures.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value));

    /// <summary>Applies one input; returns the next state and what to do (nothing when still waiting).</summary>
    public (GroupBookmarkState State, GroupBookmarkAction? Action) Step(GroupBookmarkInput input)
    {
        if (Finished) return (this, null);
        return (Phase, input) switch
        {
            (GroupBookmarkPhase.Holding, HeldReported h) => OnHeld(h),
            (GroupBookmarkPhase.Holding, PhaseTimedOut) => Abort(GroupAbortReason.HoldTimedOut,
                "no hold answer from " + string.Join(", ", DisksByMachine.Keys.Where(m => !DisksByMachine[m].All(Held.ContainsKey)).Order(StringComparer.Ordinal))),
            (GroupBookmarkPhase.Committing, CommitReported c) => OnCommitted(c),
            (GroupBookmarkPhase.Committing, PhaseTimedOut) => Abort(GroupAbortReason.CommitFailed,
                "no commit answer from " + string.Join(", ", DisksByMachine.Keys.Where(m => !CommittedMachines.Contains(m)).Order(StringComparer.Ordinal))),
            (GroupBookmarkPhase.AwaitingDurable, MarkerDurable d) => OnDurable(d),
            (GroupBookmarkPhase.AwaitingDurable, MarkerInsideResync r) => AbortRetryably(GroupAbortReason.InsideResync, r.Detail),
            (GroupBookmarkPhase.AwaitingDurable, PhaseTimedOut) => Abort(GroupAbortReason.NotDurable,
                "marker not durable on " + string.Join(", ", AllDisks.Where(d => !DurableDisks.Contains(d)).Order(StringComparer.Ordinal))),
            _ => (this, null), // a late answer of an earlier phase changes nothing
        };
    }

    (GroupBookmarkState, GroupBookmarkAction?) Abort(GroupAbortReason reason, string detail)
        => (this with { Phase = GroupBookmarkPhase.Aborted, AbortReason = reason, AbortDetail = detail }, new SendAborts(reason, detail));

    (GroupBookmarkState, GroupBookmarkAction?) AbortRetryably(GroupAbortReason reason, string detail)
    {
        var (aborted, action) = Abort(reason, detail);
        return (aborted with { AbortRetryable = true }, action);
    }

    (GroupBookmarkState, GroupBookmarkAction?) OnHeld(HeldReported h)
    {
        if (!DisksByMachine.TryGetValue(h.Machine, out var disks)) return (this, null);
        if (h.Error is not null)
        {
            var (aborted, action) = Abort(h.Unreachable ? GroupAbortReason.HoldTimedOut : GroupAbortReason.HoldRefused, $"{h.Machine}: {h.Error}");
            return (aborted with { AbortRetryable = !h.Unreachable && Contracts.Wire.RetryableRefusal.Is(h.Retryable, h.Error) }, action);
        }
        var missing = disks.Where(d => !h.Sequences.ContainsKey(d)).ToList();
        if (missing.Count > 0) return Abort(GroupAbortReason.HoldRefused, $"{h.Machine}: no held sequence for {string.Join(", ", missing)}");
        var next = this with
        {
            Held = Held.SetItems(disks.Select(d => new KeyValuePair<string, long>(d, h.Sequences[d]))),
            FreezeFailures = h.FreezeFailure is { } f ? FreezeFailures.SetItem(h.Machine, f) : FreezeFailures,
            FreezeFailureKinds = h.FreezeFailure is not null && h.FreezeFailureKind is { } k ? FreezeFailureKinds.SetItem(h.Machine, k) : FreezeFailureKinds,
        };
        return next.AllDisks.All(next.Held.ContainsKey)
            ? (next with { Phase = GroupBookmarkPhase.Committing }, new SendCommits())
            : (next, null);
    }

    (GroupBookmarkState, GroupBookmarkAction?) OnCommitted(CommitReported c)
    {
        if (!DisksByMachine.TryGetValue(c.Machine, out var disks) || CommittedMachines.Contains(c.Machine)) return (this, null);
        if (!c.Marked || c.Error is not null) return Abort(GroupAbortReason.CommitFailed, $"{c.Machine}: {c.Error ?? "no marker inserted"}");
        foreach (var d in disks)
        {
            if (!c.Markers.TryGetValue(d, out var m)) return Abort(GroupAbortReason.CommitFailed, $"{c.Machine}: no marker on {d}");
            // The cut is the held sequence: a marker anywhere else would cover writes the hold did not.
            if (m != Held[d] + 1) return Abort(GroupAbortReason.CommitFailed, $"{c.Machine}: marker on {d} at #{m}, not right after the held #{Held[d]}");
        }
        var next = this with
        {
            CommittedMachines = CommittedMachines.Add(c.Machine),
            Markers = Markers.SetItems(disks.Select(d => new KeyValuePair<string, long>(d, c.Markers[d]))),
        };
        return next.CommittedMachines.Count == DisksByMachine.Count ? (next with { Phase = GroupBookmarkPhase.AwaitingDurable }, null) : (next, null);
    }

    (GroupBookmarkState, GroupBookmarkAction?) OnDurable(MarkerDurable d)
    {
        if (!Markers.TryGetValue(d.Disk, out var m) || m != d.Sequence) return (this, null);
        var next = this with { DurableDisks = DurableDisks.Add(d.Disk) };
        if (!next.AllDisks.All(next.DurableDisks.Contains)) return (next, null);
        var kind = next.Kind;
        var failure = next.AppConsistencyFailure;
        var points = DisksByMachine.SelectMany(m => m.Value.Select(disk => (Disk: disk, Machine: m.Key))).OrderBy(x => x.Disk, StringComparer.Ordinal)
            .Select(x => new RecordRecoveryPoint(x.Disk, BookmarkId, next.Markers[x.Disk], TimeUnixMs, kind, failure, next.FailureKindOf(x.Machine))).ToList();
        return (next with { Phase = GroupBookmarkPhase.Committed }, new RecordPoints(points));
    }
}
