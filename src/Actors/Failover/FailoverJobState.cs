using System.Collections.Immutable;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>One step as the job knows it: the plan of it and how far it got.</summary>
public sealed record FailoverStep(FailoverStepPlan Plan, FailoverStepState State, long? StartedUnixMs, long? EndedUnixMs, string? Output, string? Error, int Attempts)
{
    public FailoverStepView ToView() => new(Plan, State, StartedUnixMs, EndedUnixMs, Output, Error, Attempts);
}

/// <summary>
/// A failover job (the saga) as an immutable state with pure <see cref="Decide"/> and <see cref="Apply"/>. Steps run one
/// at a time in their fixed order; the actor asks <see cref="Next"/> what to do after every event, so a job recovered
/// from its journal knows where it stands without any other memory.
/// </summary>
[Manifest("failover-job-state.v1")]
public sealed record FailoverJobState(
    string JobId,
    FailoverJobStatus Status,
    string? PlanId,
    long PlanVersion,
    FailoverKind Kind,
    FailoverPointChoice? Point,
    ImmutableList<FailoverStep> Steps,
    ImmutableList<string> Machines,
    ImmutableList<MachinePoint> Points,
    ImmutableList<StartedMachineRecord> Started,
    ImmutableList<MachineBootRecord> Boots,
    DrillReport? Report,
    long RequestedUnixMs,
    int? TtlSeconds,
    long? CompletedUnixMs,
    string? CleanupReason,
    long? CleanedUpUnixMs,
    ImmutableList<string> History)
    : IControlSnapshot, IAggregateState<FailoverJobState, IFailoverJobCommand, IFailoverJobEvent>
{
    public const int MaxCommentLength = 1024;
    /// <summary>The shortest commit policy a node allows unless its <c>auto-rollback-minimum</c> says otherwise (tests lower it).</summary>
    public const int DefaultAutoRollbackMinimumSeconds = 60;
    /// <summary>The longest commit policy: a week, like a test failover's time-to-live.</summary>
    public const int MaxAutoRollbackSeconds = 7 * 24 * 3600;

    /// <summary>Where the machines are protected back to (after a reprotect was asked for).</summary>
    public ReverseTarget? Reverse { get; init; }
    /// <summary>Each machine's reverse replication, once reprotected.</summary>
    public ImmutableList<ReverseMachineRecord> ReverseMachines { get; init; } = [];
    /// <summary>Each disk as the original site holds it after the failback.</summary>
    public ImmutableList<FailbackDiskRecord> FailbackDisks { get; init; } = [];
    /// <summary>The failback in flight is to start the machines at the original site once it has drained them.</summary>
    public bool ReturnAfterFailback { get; init; }
    /// <summary>The machines running at the original site again.</summary>
    public ImmutableList<ReturnedMachineRecord> Returned { get; init; } = [];
    /// <summary>A planned failover's commit policy: rolled back by itself when not committed this long after it completed.</summary>
    public int? AutoRollbackSeconds { get; init; }
    /// <summary>
    /// Committed, and the machines are still to move onto their capturing agents (the commit's follow-up work, done
    /// again after a node restart until its outcome is recorded). Status stays <see cref="FailoverJobStatus.Committed"/>
    /// meanwhile: nothing can roll the job back any more, but nothing else moves its machines until the move is recorded.
    /// </summary>
    public bool CaptureOwed { get; init; }
    /// <summary>The agents the commit moved the machines onto; empty for a job committed before commits captured, whose reprotect starts agents itself.</summary>
    public ImmutableList<CaptureAgentRecord> CaptureAgents { get; init; } = [];

    /// <summary>
    /// When the commit policy rolls the job back: only a planned failover with the policy, completed and not committed,
    /// counted from its (latest) completion, so a change of point restarts the clock. Never an unplanned failover.
    /// </summary>
    public long? AutoRollbackAtUnixMs => Status == FailoverJobStatus.Completed && Kind == FailoverKind.Planned && AutoRollbackSeconds is { } n && CompletedUnixMs is { } done
        ? done + n * 1000L
        : null;

    /// <summary>Why a commit policy of <paramref name="seconds"/> is refused for a <paramref name="kind"/> failover on a node whose minimum is <paramref name="minimumSeconds"/>; null when it is allowed.</summary>
    public static string? AutoRollbackError(FailoverKind kind, int? seconds, int? minimumSeconds)
    {
        if (seconds is not { } n) return null;
        if (kind == FailoverKind.Unplanned) return "an unplanned failover is never rolled back by itself: rolling back would throw production writes away";
        if (kind == FailoverKind.Test) return "applies to a planned failover only (a test failover cleans itself up after its ttlSeconds)";
        var min = minimumSeconds ?? DefaultAutoRollbackMinimumSeconds;
        if (min < 1 || min > MaxAutoRollbackSeconds) return $"the node's auto-rollback-minimum must be within 1..{MaxAutoRollbackSeconds} s (was {min})";
        return n < min || n > MaxAutoRollbackSeconds
            ? $"{n} is outside {min}..{MaxAutoRollbackSeconds} (at least the node's auto-rollback-minimum, at most 7 days)"
            : null;
    }

    /// <summary>Committed, or past it: nothing but a reprotect and a failback moves the machines any more.</summary>
    public bool AfterCommit => Status is FailoverJobStatus.Committed or FailoverJobStatus.Reprotecting or FailoverJobStatus.Reprotected
        or FailoverJobStatus.FailingBack or FailoverJobStatus.FailedBack or FailoverJobStatus.Returning or FailoverJobStatus.Returned;

    /// <summary>The job is done with its machines: they are free for another failover (its directory entry closes).</summary>
    public bool ReleasesMachines => Status is FailoverJobStatus.CleanedUp or FailoverJobStatus.FailedBack or FailoverJobStatus.Returned;

    public static FailoverJobState Empty(string jobId) => new(jobId, FailoverJobStatus.NotStarted, null, 0, FailoverKind.Test, null, [], [], [], [], [], null, 0, null, null, null, null, []);

    /// <summary>The step that runs or waits now, if any.</summary>
    public FailoverStep? Current => Steps.FirstOrDefault(s => s.State == FailoverStepState.Running);

    /// <summary>The first step not yet done, if any.</summary>
    public FailoverStep? NextPending => Steps.FirstOrDefault(s => s.State == FailoverStepState.Pending);

    public bool IsFinished => Status == FailoverJobStatus.CleanedUp;

    public Decision<IFailoverJobEvent> Decide(IFailoverJobCommand command)
    {
        var name = command.GetType().Name;
        if (Status == FailoverJobStatus.NotStarted && command is not StartFailoverJob)
            return Reject(RejectionReason.NotRegistered, $"failover job '{JobId}' does not exist");
        return command switch
        {
            StartFailoverJob c => DecideStart(c),
            BeginFailoverStep c => Status == FailoverJobStatus.Running && Current is null && NextPending?.Plan.Index == c.Index
                ? Accept(new FailoverStepStarted(JobId, c.Index, c.AtUnixMs))
                : NotNow(name, c.Index),
            CompleteFailoverStep c => IsRunning(c.Index, out var s) && s.Plan.Kind is not FailoverStepKind.Manual
                ? Accept(new FailoverStepSucceeded(JobId, c.Index, c.AtUnixMs, c.Output))
                : NotNow(name, c.Index),
            FailFailoverStep c => IsRunning(c.Index, out _)
                ? Accept(new FailoverStepFailed(JobId, c.Index, c.AtUnixMs, string.IsNullOrWhiteSpace(c.Error) ? "failed" : c.Error))
                : NotNow(name, c.Index),
            RecordFailoverPoints c => IsRunning(c.Index, out var s) && s.Plan.Kind == FailoverStepKind.ResolvePoint
                ? Accept(new FailoverPointsResolved(JobId, c.Index, c.Points),
                    new FailoverStepSucceeded(JobId, c.Index, c.AtUnixMs, $"{c.Points.Count} machine(s): {string.Join(", ", c.Points.Select(p => $"{p.MachineId} at {p.PointName}"))}"))
                : NotNow(name, c.Index),
            RecordMachinesStarted c => DecideStarted(c),
            RecordDrillReport c => IsRunning(c.Index, out var s) && s.Plan.Kind == FailoverStepKind.DrillReport
                ? Accept(new FailoverDrillReported(JobId, c.Index, c.Report), c.Report.Passed
                    ? new FailoverStepSucceeded(JobId, c.Index, c.Report.CompletedUnixMs, "drill passed")
                    : new FailoverStepFailed(JobId, c.Index, c.Report.CompletedUnixMs, $"drill failed: {c.Report.Failure}"))
                : NotNow(name, c.Index),
            ConfirmManualAction c => DecideConfirm(c),
            RetryFailoverStep c => Status == FailoverJobStatus.StepFailed && Steps.ElementAtOrDefault(c.Index) is { State: FailoverStepState.Failed }
                ? Accept(new FailoverStepRetried(JobId, c.Index, c.AtUnixMs))
                : NotNow(name, c.Index),
            SkipFailoverStep c => DecideSkip(c),
            CleanupFailover c => DecideCleanup(c),
            CommitFailover c => DecideCommit(c),
            RollbackFailover c => DecideRollback(c),
            ChangeFailoverPoint c => DecideChangePoint(c),
            // A committed failover is never rolled back by anything but an operator's failback.
            InterruptFailover c => Status is FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp || AfterCommit
                ? Decision<IFailoverJobEvent>.NoOp
                : Accept(new FailoverInterrupted(JobId, c.Index, c.Reason, c.AtUnixMs), new FailoverCleanupStarted(JobId, c.Reason, c.AtUnixMs)),
            CompleteFailoverCleanup c => Status == FailoverJobStatus.CleaningUp
                ? Accept(new FailoverCleanedUp(JobId, c.AtUnixMs, c.Removed))
                : Status == FailoverJobStatus.CleanedUp ? Decision<IFailoverJobEvent>.NoOp : NotNow(name, null),
            RecordCommitCaptured c => Status == FailoverJobStatus.Committed && CaptureOwed
                ? Accept(new FailoverCommitCaptured(JobId, c.Capture, c.AtUnixMs))
                : NotNow(name, null),
            FailCommitCapture c => Status == FailoverJobStatus.Committed && CaptureOwed
                ? Accept(new FailoverCommitCaptureFailed(JobId, string.IsNullOrWhiteSpace(c.Error) ? "failed" : c.Error, c.AtUnixMs))
                : NotNow(name, null),
            ReprotectFailover c => DecideReprotect(c),
            RecordReprotected c => Status == FailoverJobStatus.Reprotecting
                ? Accept(new FailoverReprotected(JobId, c.Machines, c.Started, c.Boots, c.AtUnixMs))
                : NotNow(name, null),
            FailReprotect c => Status == FailoverJobStatus.Reprotecting
                ? Accept(new FailoverReprotectFailed(JobId, string.IsNullOrWhiteSpace(c.Error) ? "failed" : c.Error, c.AtUnixMs))
                : NotNow(name, null),
            FailbackFailover c => Status switch
            {
                FailoverJobStatus.Reprotected => c.Return
                    ? Accept(new FailoverFailbackStarted(JobId, c.AtUnixMs), new FailoverReturnStarted(JobId, c.AtUnixMs))
                    : Accept(new FailoverFailbackStarted(JobId, c.AtUnixMs)),
                FailoverJobStatus.FailingBack => Decision<IFailoverJobEvent>.NoOp,
                FailoverJobStatus.FailedBack or FailoverJobStatus.Returning or FailoverJobStatus.Returned => Reject(RejectionReason.InvalidState,
                    $"job '{JobId}' has failed back already: its disks are at the original site{(Status == FailoverJobStatus.FailedBack ? " (return its machines there with a return)" : "")}"),
                FailoverJobStatus.Committed => Reject(RejectionReason.InvalidState,
                    $"job '{JobId}' is committed but not reprotected: its machines' writes would not reach the original site; reprotect first"),
                _ => Reject(RejectionReason.InvalidState, $"job '{JobId}' is {Status}: only a reprotected failover ({FailoverJobStatus.Reprotected}) can fail back"),
            },
            RecordFailedBack c => Status == FailoverJobStatus.FailingBack
                ? Accept(new FailoverFailedBack(JobId, c.Disks, c.AtUnixMs))
                : NotNow(name, null),
            FailFailback c => Status == FailoverJobStatus.FailingBack
                ? Accept(new FailoverFailbackFailed(JobId, string.IsNullOrWhiteSpace(c.Error) ? "failed" : c.Error, c.AtUnixMs))
                : NotNow(name, null),
            ReturnMachines c => Status switch
            {
                FailoverJobStatus.FailedBack => Accept(new FailoverReturnStarted(JobId, c.AtUnixMs)),
                FailoverJobStatus.Returning => Decision<IFailoverJobEvent>.NoOp,
                FailoverJobStatus.FailingBack when ReturnAfterFailback => Decision<IFailoverJobEvent>.NoOp,
                FailoverJobStatus.FailingBack => Accept(new FailoverReturnStarted(JobId, c.AtUnixMs)),
                FailoverJobStatus.Returned => Reject(RejectionReason.InvalidState, $"job '{JobId}' has returned its machines already: they run at the original site"),
                _ => Reject(RejectionReason.InvalidState, $"job '{JobId}' is {Status}: only a failed-back job's machines ({FailoverJobStatus.FailedBack}) can return to the original site"),
            },
            RecordReturned c => Status == FailoverJobStatus.Returning
                ? Accept(new FailoverReturned(JobId, c.Machines, c.AtUnixMs))
                : NotNow(name, null),
            FailReturn c => Status == FailoverJobStatus.Returning
                ? Accept(new FailoverReturnFailed(JobId, string.IsNullOrWhiteSpace(c.Error) ? "failed" : c.Error, c.AtUnixMs))
                : NotNow(name, null),
            _ => Reject(RejectionReason.InvalidArgument, $"Command type {name} is not handled by a failover job"),
        };
    }

    Decision<IFailoverJobEvent> DecideReprotect(ReprotectFailover c)
    {
        const string cmd = nameof(ReprotectFailover);
        if (Status == FailoverJobStatus.Reprotecting && c.Target == Reverse) return Decision<IFailoverJobEvent>.NoOp;
        if (Status != FailoverJobStatus.Committed)
            return Reject(RejectionReason.InvalidState, Status switch
            {
                FailoverJobStatus.Completed when Kind != FailoverKind.Test => $"job '{JobId}' is not committed: commit it first (until then it may still be rolled back)",
                FailoverJobStatus.Reprotecting or FailoverJobStatus.Reprotected => $"job '{JobId}' is {Status} already (to {Reverse?.ProcessServer})",
                _ when Kind == FailoverKind.Test => $"job '{JobId}' is a test failover: only a committed planned or unplanned failover is reprotected",
                _ => $"job '{JobId}' is {Status}: only a committed failover ({FailoverJobStatus.Committed}) can be reprotected",
            });
        // A bad target is named whatever the moment: asking again later would not make it good.
        if (c.Target is null) return Invalid($"{cmd}.Target must say where to protect the machines back to");
        if (HostPortError(c.Target.ProcessServer) is { } bad) return Invalid($"{cmd}.Target.ProcessServer {bad}");
        if (!Uri.TryCreate(c.Target.Api, UriKind.Absolute, out var api) || api.Scheme is not ("http" or "https"))
            return Invalid($"{cmd}.Target.Api must be the http(s) URL of the node running the original site's master target (was '{c.Target.Api}')");
        // The reprotect adopts the agents the commit moves the machines onto: it waits until that move is recorded.
        if (CaptureOwed)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is committed and still moving its machines onto their capturing agents at this site: reprotect once that is recorded (see its history)");
        return Accept(new FailoverReprotectStarted(JobId, c.Target, c.AtUnixMs));
    }

    static string? HostPortError(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return "must be HOST:PORT (was empty)";
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
            return $"must be HOST:PORT with a port in 1..65535 (was '{text}')";
        return text[..colon].Any(ch => char.IsWhiteSpace(ch) || char.IsControl(ch)) ? $"must not hold spaces or control characters (was '{text}')" : null;
    }

    Decision<IFailoverJobEvent> DecideStart(StartFailoverJob c)
    {
        const string cmd = nameof(StartFailoverJob);
        if (Status != FailoverJobStatus.NotStarted)
            return Reject(RejectionReason.Conflict, $"failover job '{JobId}' already exists (plan {PlanId}, {Kind}, {Status})");
        if (Rules.Blank(c.PlanId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.PlanId)));
        if (!Enum.IsDefined(c.Kind)) return Invalid(Rules.MustBeDefined(cmd, nameof(c.Kind), c.Kind));
        if (c.Point is null || !FailoverPointChoice.Kinds.Contains(c.Point.Kind))
            return Invalid($"{cmd}.Point.Kind must be one of {string.Join(", ", FailoverPointChoice.Kinds)} (was {c.Point?.Kind ?? "null"})");
        if (c.Point.Kind == "bookmark" && Rules.Blank(c.Point.Bookmark)) return Invalid($"{cmd}.Point.Bookmark must name a recovery point");
        if (c.Point.Kind == "time" && c.Point.Time is null) return Invalid($"{cmd}.Point.Time must be a UTC time");
        if (c.Machines is not { Count: > 0 }) return Invalid($"{cmd}.Machines must list at least one machine");
        if (c.Steps is not { Count: > 0 }) return Invalid($"{cmd}.Steps must list at least one step");
        for (var i = 0; i < c.Steps.Count; i++)
            if (c.Steps[i] is null || c.Steps[i].Index != i) return Invalid($"{cmd}.Steps[{i}].Index must be {i}");
        if (c.TtlSeconds is { } ttl && (ttl < StartFailoverJob.MinTtlSeconds || ttl > StartFailoverJob.MaxTtlSeconds))
            return Invalid($"{cmd}.TtlSeconds must be within {StartFailoverJob.MinTtlSeconds}..{StartFailoverJob.MaxTtlSeconds} (was {ttl})");
        if (c.TtlSeconds is not null && c.Kind != FailoverKind.Test)
            return Invalid($"{cmd}.TtlSeconds applies to a test failover only (an unplanned failover is never rolled back by itself)");
        if (AutoRollbackError(c.Kind, c.AutoRollbackSeconds, c.AutoRollbackMinimumSeconds) is { } policy) return Invalid($"{cmd}.AutoRollbackSeconds: {policy}");
        return Accept(new FailoverJobStarted(JobId, c.PlanId, c.PlanVersion, c.Kind, c.Point, c.Steps, c.Machines, c.RequestedUnixMs, c.TtlSeconds, c.AutoRollbackSeconds));
    }

    Decision<IFailoverJobEvent> DecideStarted(RecordMachinesStarted c)
    {
        if (!IsRunning(c.Index, out var s) || s.Plan.Kind != FailoverStepKind.StartGroup) return NotNow(nameof(RecordMachinesStarted), c.Index);
        var failed = c.Boots.Where(b => !b.Booted).ToList();
        var at = c.Boots.Select(b => b.AtUnixMs).DefaultIfEmpty(c.Machines.Select(m => m.StartedUnixMs).DefaultIfEmpty(0).Max()).Max();
        IFailoverJobEvent end = failed.Count == 0
            ? new FailoverStepSucceeded(JobId, c.Index, at, $"{c.Boots.Count} machine(s) booted: {string.Join(", ", c.Boots.Select(b => $"{b.MachineId} in {b.Seconds:0.0} s"))}")
            : new FailoverStepFailed(JobId, c.Index, at, string.Join("; ", failed.Select(b => $"{b.MachineId} did not boot: {b.Failure}")));
        return Accept(new FailoverMachinesStarted(JobId, c.Index, c.Machines, c.Boots), end);
    }

    Decision<IFailoverJobEvent> DecideConfirm(ConfirmManualAction c)
    {
        var step = Steps.ElementAtOrDefault(c.Index);
        if (step is null || step.Plan.Kind != FailoverStepKind.Manual)
            return Invalid($"{nameof(ConfirmManualAction)}.Index: step {c.Index} of job '{JobId}' is not a manual action (manual actions: {string.Join(", ", Steps.Where(s => s.Plan.Kind == FailoverStepKind.Manual).Select(s => $"{s.Plan.Index} '{s.Plan.Name}'").DefaultIfEmpty("none"))})");
        if (step.State != FailoverStepState.Running || Status != FailoverJobStatus.WaitingForOperator)
            return Reject(RejectionReason.InvalidState, $"manual action {c.Index} '{step.Plan.Name}' of job '{JobId}' is {step.State}{(step.Output is null ? "" : $" ({step.Output})")}, not waiting for an operator");
        if (CommentError(nameof(ConfirmManualAction), c.Comment) is { } bad) return Invalid(bad);
        return Accept(new FailoverManualActionConfirmed(JobId, c.Index, c.Comment.Trim(), c.AtUnixMs));
    }

    Decision<IFailoverJobEvent> DecideSkip(SkipFailoverStep c)
    {
        var step = Steps.ElementAtOrDefault(c.Index);
        var skippable = step is not null &&
            (Status == FailoverJobStatus.StepFailed && step.State == FailoverStepState.Failed
             || Status == FailoverJobStatus.WaitingForOperator && step.State == FailoverStepState.Running && step.Plan.Kind == FailoverStepKind.Manual);
        if (!skippable) return NotNow(nameof(SkipFailoverStep), c.Index);
        if (step!.Plan.Kind == FailoverStepKind.ResolvePoint)
            return Reject(RejectionReason.InvalidState, $"step {c.Index} '{step.Plan.Name}' cannot be skipped: no machine can start without its point; retry it or clean up");
        if (CommentError(nameof(SkipFailoverStep), c.Comment) is { } bad) return Invalid(bad);
        return Accept(new FailoverStepSkipped(JobId, c.Index, c.Comment.Trim(), c.AtUnixMs));
    }

    Decision<IFailoverJobEvent> DecideCleanup(CleanupFailover c)
    {
        if (Status is FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp) return Decision<IFailoverJobEvent>.NoOp;
        if (Kind != FailoverKind.Test)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is a {Kind.ToString().ToLowerInvariant()} failover: cleanup applies to test failovers (a failover is committed or rolled back)");
        if (AfterCommit) return NotNow(nameof(CleanupFailover), null);
        if (Rules.Blank(c.Reason)) return Invalid(Rules.MustBeNonEmpty(nameof(CleanupFailover), nameof(c.Reason)));
        return Accept(new FailoverCleanupStarted(JobId, c.Reason, c.AtUnixMs));
    }

    Decision<IFailoverJobEvent> DecideCommit(CommitFailover c)
    {
        if (AfterCommit) return Decision<IFailoverJobEvent>.NoOp;
        if (Kind == FailoverKind.Test)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is a test failover: it is cleaned up, never committed");
        if (Status != FailoverJobStatus.Completed)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is {Status}: only a failover whose machines all started ({FailoverJobStatus.Completed}) can be committed");
        return Accept(new FailoverCommittedWithCapture(JobId, c.AtUnixMs));
    }

    Decision<IFailoverJobEvent> DecideRollback(RollbackFailover c)
    {
        if (Status is FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp) return Decision<IFailoverJobEvent>.NoOp;
        if (Kind == FailoverKind.Test) return Reject(RejectionReason.InvalidState, $"job '{JobId}' is a test failover: clean it up instead");
        if (AfterCommit)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is {(Status == FailoverJobStatus.Committed ? "committed" : Status.ToString())}: its machines' writes since the failover are production data now; reprotect and fail back instead of rolling back");
        if (Rules.Blank(c.Reason)) return Invalid(Rules.MustBeNonEmpty(nameof(RollbackFailover), nameof(c.Reason)));
        return Accept(new FailoverCleanupStarted(JobId, $"rollback: {c.Reason}", c.AtUnixMs));
    }

    Decision<IFailoverJobEvent> DecideChangePoint(ChangeFailoverPoint c)
    {
        const string cmd = nameof(ChangeFailoverPoint);
        if (Status != FailoverJobStatus.Completed)
            return Reject(RejectionReason.InvalidState, $"job '{JobId}' is {Status}: the point can be changed once every machine started and before a commit");
        if (c.Point is null || !FailoverPointChoice.Kinds.Contains(c.Point.Kind))
            return Invalid($"{cmd}.Point.Kind must be one of {string.Join(", ", FailoverPointChoice.Kinds)} (was {c.Point?.Kind ?? "null"})");
        if (c.Point.Kind == "bookmark" && Rules.Blank(c.Point.Bookmark)) return Invalid($"{cmd}.Point.Bookmark must name a recovery point");
        if (c.Point.Kind == "time" && c.Point.Time is null) return Invalid($"{cmd}.Point.Time must be a UTC time");
        return Accept(new FailoverPointChanged(JobId, c.Point, c.AtUnixMs));
    }

    static string? CommentError(string command, string? comment)
    {
        if (Rules.Blank(comment)) return $"{command}.Comment must say what was done (it is kept with the job)";
        if (comment!.Length > MaxCommentLength) return $"{command}.Comment must be at most {MaxCommentLength} characters (was {comment.Length})";
        return comment.Any(ch => char.IsControl(ch) && ch is not '\n' and not '\t') ? $"{command}.Comment must not hold control characters" : null;
    }

    bool IsRunning(int index, out FailoverStep step)
    {
        step = Steps.ElementAtOrDefault(index)!;
        return step is { State: FailoverStepState.Running } && Status is FailoverJobStatus.Running or FailoverJobStatus.WaitingForOperator;
    }

    Decision<IFailoverJobEvent> NotNow(string command, int? index)
    {
        var at = index is { } i && Steps.ElementAtOrDefault(i) is { } s ? $" step {i} '{s.Plan.Name}' is {s.State};" : index is { } j ? $" there is no step {j};" : "";
        return Reject(RejectionReason.InvalidState, $"{command} is not allowed now: job '{JobId}' is {Status};{at} current step: {(Current is { } c ? $"{c.Plan.Index} '{c.Plan.Name}'" : "none")}");
    }

    public FailoverJobState Apply(IFailoverJobEvent @event) => @event switch
    {
        FailoverJobStarted e => this with
        {
            Status = FailoverJobStatus.Running, PlanId = e.PlanId, PlanVersion = e.PlanVersion, Kind = e.Kind, Point = e.Point,
            Steps = e.Steps.Select(p => new FailoverStep(p, FailoverStepState.Pending, null, null, null, null, 0)).ToImmutableList(),
            Machines = e.Machines.ToImmutableList(), RequestedUnixMs = e.RequestedUnixMs, TtlSeconds = e.TtlSeconds, AutoRollbackSeconds = e.AutoRollbackSeconds,
            History = History.Add(Line(e.RequestedUnixMs, $"{e.Kind} failover of plan {e.PlanId} (version {e.PlanVersion}) to {e.Point} requested" +
                (e.AutoRollbackSeconds is { } n ? $"; rolled back by itself if not committed within {n} s of completing" : ""))),
        },
        FailoverStepStarted e => Update(e.Index, s => s with { State = FailoverStepState.Running, StartedUnixMs = e.AtUnixMs, EndedUnixMs = null, Error = null, Attempts = s.Attempts + 1 })
            with
            {
                Status = Steps[e.Index].Plan.Kind == FailoverStepKind.Manual ? FailoverJobStatus.WaitingForOperator : FailoverJobStatus.Running,
                History = History.Add(Line(e.AtUnixMs, $"step {e.Index} '{Steps[e.Index].Plan.Name}' started")),
            },
        FailoverStepSucceeded e => Finish(e.Index, FailoverStepState.Succeeded, e.AtUnixMs, e.Output, null, $"step {e.Index} '{Steps[e.Index].Plan.Name}' succeeded"),
        FailoverStepFailed e => Finish(e.Index, FailoverStepState.Failed, e.AtUnixMs, null, e.Error, $"step {e.Index} '{Steps[e.Index].Plan.Name}' failed: {e.Error}"),
        FailoverPointsResolved e => this with { Points = e.Points.ToImmutableList() },
        FailoverMachinesStarted e => this with
        {
            Started = Started.RemoveAll(m => e.Machines.Any(n => n.MachineId == m.MachineId)).AddRange(e.Machines),
            Boots = Boots.RemoveAll(b => e.Boots.Any(n => n.MachineId == b.MachineId)).AddRange(e.Boots),
        },
        FailoverDrillReported e => this with { Report = e.Report },
        FailoverManualActionConfirmed e => Finish(e.Index, FailoverStepState.Succeeded, e.AtUnixMs, $"confirmed: {e.Comment}", null, $"manual action {e.Index} '{Steps[e.Index].Plan.Name}' confirmed: {e.Comment}"),
        FailoverStepRetried e => Update(e.Index, s => s with { State = FailoverStepState.Pending }) with
        {
            Status = FailoverJobStatus.Running,
            History = History.Add(Line(e.AtUnixMs, $"step {e.Index} '{Steps[e.Index].Plan.Name}' retried")),
        },
        FailoverStepSkipped e => Finish(e.Index, FailoverStepState.Skipped, e.AtUnixMs, $"skipped: {e.Comment}", Steps[e.Index].Error, $"step {e.Index} '{Steps[e.Index].Plan.Name}' skipped: {e.Comment}"),
        FailoverCleanupStarted e => (Current is { } running
                ? Update(running.Plan.Index, s => s with { State = FailoverStepState.Failed, EndedUnixMs = e.AtUnixMs, Error = $"stopped by the cleanup: {e.Reason}" })
                : this) with
            {
                Status = FailoverJobStatus.CleaningUp, CleanupReason = e.Reason,
                History = History.Add(Line(e.AtUnixMs, $"cleanup started: {e.Reason}")),
            },
        FailoverCommitted e => this with
        {
            Status = FailoverJobStatus.Committed,
            History = History.Add(Line(e.AtUnixMs, "committed: the machines stay failed over")),
        },
        FailoverCommittedWithCapture e => this with
        {
            Status = FailoverJobStatus.Committed, CaptureOwed = true,
            History = History.Add(Line(e.AtUnixMs, "committed: the machines stay failed over; each moves onto an agent here that captures its writes")),
        },
        FailoverCommitCaptured e => this with
        {
            CaptureOwed = false,
            CaptureAgents = CaptureAgents.RemoveAll(a => e.Capture.Agents.Any(n => n.MachineId == a.MachineId)).AddRange(e.Capture.Agents),
            Started = Started.RemoveAll(m => e.Capture.Started.Any(n => n.MachineId == m.MachineId)).AddRange(e.Capture.Started),
            Boots = Boots.RemoveAll(b => e.Capture.Boots.Any(n => n.MachineId == b.MachineId)).AddRange(e.Capture.Boots),
            History = History.Add(Line(e.AtUnixMs, "captured: " + string.Join("; ", e.Capture.Agents.Select(Describe).Concat(
                e.Capture.Failures.Select(f => $"not moved: {f} (it runs on its images; the reprotect moves it)"))))),
        },
        FailoverCommitCaptureFailed e => this with
        {
            CaptureOwed = false,
            History = History.Add(Line(e.AtUnixMs, $"capture failed: {e.Error} (the machines run on their images; the reprotect moves them onto agents)")),
        },
        // The plan runs again from its first step at the new point; the machines restart on it.
        FailoverPointChanged e => this with
        {
            Status = FailoverJobStatus.Running, Point = e.Point, Report = null, CompletedUnixMs = null,
            // The source of a planned failover is stopped already (and its final point taken): that step is not run again.
            Steps = Steps.Select(s => s.Plan.Kind == FailoverStepKind.StopSource ? s
                : s with { State = FailoverStepState.Pending, StartedUnixMs = null, EndedUnixMs = null, Output = null, Error = null }).ToImmutableList(),
            History = History.Add(Line(e.AtUnixMs, $"point changed to {e.Point}: the plan runs again")),
        },
        FailoverReprotectStarted e => this with
        {
            Status = FailoverJobStatus.Reprotecting, Reverse = e.Target,
            History = History.Add(Line(e.AtUnixMs, $"reprotect to {e.Target.ProcessServer} ({e.Target.Api}) started")),
        },
        FailoverReprotected e => this with
        {
            Status = FailoverJobStatus.Reprotected, ReverseMachines = e.Machines.ToImmutableList(),
            Started = Started.RemoveAll(m => e.Started.Any(n => n.MachineId == m.MachineId)).AddRange(e.Started),
            Boots = Boots.RemoveAll(b => e.Boots.Any(n => n.MachineId == b.MachineId)).AddRange(e.Boots),
            History = History.Add(Line(e.AtUnixMs, $"reprotected: {string.Join("; ", e.Machines.SelectMany(m => m.Disks).Select(d => $"{d.DiskId} {d.BytesSent} of {d.SizeBytes} bytes moved in {d.Seconds:0.0} s"))}")),
        },
        FailoverReprotectFailed e => this with
        {
            Status = FailoverJobStatus.Committed,
            History = History.Add(Line(e.AtUnixMs, $"reprotect failed: {e.Error}")),
        },
        FailoverFailbackStarted e => this with
        {
            Status = FailoverJobStatus.FailingBack,
            History = History.Add(Line(e.AtUnixMs, "failback started: the machines stop here and drain to the original site")),
        },
        FailoverFailedBack e => this with
        {
            Status = ReturnAfterFailback ? FailoverJobStatus.Returning : FailoverJobStatus.FailedBack, FailbackDisks = e.Disks.ToImmutableList(),
            ReturnAfterFailback = false,
            History = History.Add(Line(e.AtUnixMs, $"failed back: the original site holds {string.Join(", ", e.Disks.Select(d => $"{d.DiskId} #{d.Sequence}"))}")),
        },
        FailoverFailbackFailed e => this with
        {
            Status = FailoverJobStatus.Reprotected, ReturnAfterFailback = false,
            History = History.Add(Line(e.AtUnixMs, $"failback failed: {e.Error}")),
        },
        // Asked with the failback: it waits for the drain. Asked after it: the machines start now.
        FailoverReturnStarted e when Status == FailoverJobStatus.FailingBack => this with
        {
            ReturnAfterFailback = true,
            History = History.Add(Line(e.AtUnixMs, "the machines are to start at the original site once it holds every write")),
        },
        FailoverReturnStarted e => this with
        {
            Status = FailoverJobStatus.Returning,
            History = History.Add(Line(e.AtUnixMs, "return started: the machines start at the original site")),
        },
        FailoverReturned e => this with
        {
            Status = FailoverJobStatus.Returned, Returned = e.Machines.ToImmutableList(),
            History = History.Add(Line(e.AtUnixMs, "returned: " + string.Join("; ", e.Machines.Select(Describe)))),
        },
        FailoverReturnFailed e => this with
        {
            Status = FailoverJobStatus.FailedBack,
            History = History.Add(Line(e.AtUnixMs, $"return failed: {e.Error}")),
        },
        FailoverInterrupted e => this with { History = History.Add(Line(e.AtUnixMs, $"interrupted{(e.Index is { } i ? $" in step {i}" : "")}: {e.Reason}")) },
        FailoverCleanedUp e => this with
        {
            Status = FailoverJobStatus.CleanedUp, CleanedUpUnixMs = e.AtUnixMs,
            History = History.Add(Line(e.AtUnixMs, $"cleaned up: {(e.Removed.Count == 0 ? "nothing was left" : string.Join(", ", e.Removed))}")),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown failover job event"),
    };

    FailoverJobState Finish(int index, FailoverStepState state, long at, string? output, string? error, string line)
    {
        var next = Update(index, s => s with { State = state, EndedUnixMs = at, Output = output ?? s.Output, Error = error });
        var status = state == FailoverStepState.Failed ? FailoverJobStatus.StepFailed
            : next.Steps.All(s => s.State is FailoverStepState.Succeeded or FailoverStepState.Skipped) ? FailoverJobStatus.Completed
            : FailoverJobStatus.Running;
        return next with
        {
            Status = status,
            CompletedUnixMs = status == FailoverJobStatus.Completed ? at : next.CompletedUnixMs,
            History = History.Add(Line(at, line)),
        };
    }

    FailoverJobState Update(int index, Func<FailoverStep, FailoverStep> change) => this with { Steps = Steps.SetItem(index, change(Steps[index])) };

    static string Describe(CaptureAgentRecord a) =>
        $"{a.MachineId} on agent pid {a.AgentPid} (nbd {a.Nbd}, {(a.Restarted ? "restarted on it: the live move failed" : "moved while running")}), writes captured, nothing replicated until a reprotect";

    static string Describe(ReturnedMachineRecord m)
    {
        var boot = m.Booted ? $"booted in {m.BootSeconds:0.0} s" : "not booted";
        var moved = string.Join(", ", m.Disks.Select(d => $"{d.DiskId} {d.BytesSent} of {d.SizeBytes} bytes moved back"));
        return $"{m.MachineId} runs at {m.Site} ({boot}), {moved}";
    }

    static string Line(long at, string text) => $"{DateTimeOffset.FromUnixTimeMilliseconds(at):yyyy-MM-ddTHH:mm:ss.fffZ} {text}";

    /// <summary>What the actor does next; pure, so a recovered job and a live one take the same next step.</summary>
    public FailoverNext Next() => Status switch
    {
        FailoverJobStatus.Running when Current is { } running => new FailoverNext.Execute(running.Plan),
        FailoverJobStatus.Running when NextPending is { } pending => new FailoverNext.Begin(pending.Plan.Index),
        FailoverJobStatus.Completed when Kind == FailoverKind.Test && TtlSeconds is { } ttl => new FailoverNext.CleanupAt(CompletedUnixMs!.Value + ttl * 1000L),
        FailoverJobStatus.Completed when AutoRollbackAtUnixMs is { } at => new FailoverNext.RollbackAt(at),
        FailoverJobStatus.CleaningUp => new FailoverNext.Cleanup(),
        FailoverJobStatus.Committed when CaptureOwed => new FailoverNext.Capture(),
        FailoverJobStatus.Reprotecting => new FailoverNext.Reprotect(Reverse!),
        FailoverJobStatus.FailingBack => new FailoverNext.Failback(),
        FailoverJobStatus.Returning => new FailoverNext.Return(),
        _ => new FailoverNext.Wait(),
    };

    public FailoverJobView ToView() => new(JobId, Status != FailoverJobStatus.NotStarted, PlanId, Kind, Point, Status, Steps.Select(s => s.ToView()).ToList(),
        Points, Started, Boots, Report, RequestedUnixMs, TtlSeconds, CompletedUnixMs, CleanupReason, CleanedUpUnixMs, History)
    {
        Reverse = Reverse, ReverseMachines = ReverseMachines, FailbackDisks = FailbackDisks, Returned = Returned,
        AutoRollbackSeconds = AutoRollbackSeconds, AutoRollbackAtUnixMs = AutoRollbackAtUnixMs,
    };

    static Decision<IFailoverJobEvent> Accept(params IFailoverJobEvent[] e) => Decision<IFailoverJobEvent>.Accept(e);
    static Decision<IFailoverJobEvent> Invalid(string message) => Reject(RejectionReason.InvalidArgument, message);
    static Decision<IFailoverJobEvent> Reject(RejectionReason reason, string message) => Decision<IFailoverJobEvent>.Reject(reason, message);
}

/// <summary>The actor's next move, as <see cref="FailoverJobState.Next"/> decides it.</summary>
public abstract record FailoverNext
{
    /// <summary>Record that step <paramref name="Index"/> starts.</summary>
    public sealed record Begin(int Index) : FailoverNext;
    /// <summary>Do the work of a started step (again, after a retry).</summary>
    public sealed record Execute(FailoverStepPlan Step) : FailoverNext;
    /// <summary>A completed test failover's time-to-live ends at <paramref name="AtUnixMs"/>.</summary>
    public sealed record CleanupAt(long AtUnixMs) : FailoverNext;
    /// <summary>A completed planned failover's commit policy ends at <paramref name="AtUnixMs"/>: roll it back unless committed by then.</summary>
    public sealed record RollbackAt(long AtUnixMs) : FailoverNext;
    /// <summary>Remove what the job made.</summary>
    public sealed record Cleanup : FailoverNext;
    /// <summary>Move the committed machines onto capturing agents here (again, after a restart: it is safe to repeat).</summary>
    public sealed record Capture : FailoverNext;
    /// <summary>Protect the committed machines back to <paramref name="Target"/> (again, after a restart: it is safe to repeat).</summary>
    public sealed record Reprotect(ReverseTarget Target) : FailoverNext;
    /// <summary>Stop the machines here and drain them to the original site (again, after a restart).</summary>
    public sealed record Failback : FailoverNext;
    /// <summary>Start the failed-back machines at the original site (again, after a restart: it is safe to repeat).</summary>
    public sealed record Return : FailoverNext;
    /// <summary>Nothing to do until a command arrives (an operator, a cleanup).</summary>
    public sealed record Wait : FailoverNext;
}
