using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>The failover saga's pure state: any sequence of commands keeps the job's steps in order and its status honest.</summary>
public sealed class FailoverJobProperties
{
    const string J = "job1";

    internal static readonly IReadOnlyList<FailoverStepPlan> Steps =
    [
        new(0, FailoverStepKind.ResolvePoint, "resolve", null, ["vm1", "vm2", "vm3"]),
        new(1, FailoverStepKind.Manual, "check the database", 1, [], "look at it"),
        new(2, FailoverStepKind.StartGroup, "start boot group 1", 1, ["vm1"]),
        new(3, FailoverStepKind.Script, "warm cache", 1, [], null, "warm.sh", 5),
        new(4, FailoverStepKind.StartGroup, "start boot group 2", 2, ["vm2", "vm3"]),
        new(5, FailoverStepKind.DrillReport, "drill report", null, ["vm1", "vm2", "vm3"]),
    ];

    internal static StartFailoverJob Start(FailoverKind kind = FailoverKind.Test, int? ttl = null) =>
        new(J, "plan1", 1, kind, new FailoverPointChoice("latest"), Steps, ["vm1", "vm2", "vm3"], 1_000, ttl);

    static readonly MachinePoint P1 = new("vm1", "auto-1", new Dictionary<string, long> { ["d1"] = 10 }, 900, "crash-consistent");

    static StartedMachineRecord Started(string m) => new("local", m, m, $"i-{m}", 100, $"/tmp/{m}.console", "tcg", 2_000, [new ServedDiskRecord($"{m}-d", "e1", "nbd://x", 10, 1 << 20)]);

    static MachineBootRecord Boot(string m, bool ok) => new(m, ok, 3_000, 9.5, ok ? "SR-CHECK OK bytes=1 sha256=ab" : null, ok ? null : "timed out", ["..."]);

    static DrillReport Report(bool passed) => new(J, "plan1", "latest", 1_000, 5_000, 2_000, [], [], passed, passed ? null : "vm2: did not boot");

    static readonly Gen<int> Index = Gen.Choose(-1, 6);

    static readonly Gen<IFailoverJobCommand> Command = Gen.OneOf(
        Gen.Elements<IFailoverJobCommand>(Start(), Start(FailoverKind.Planned), Start(ttl: 60), Start(ttl: 5),
            new CleanupFailover(J, "operator", 9_000), new CleanupFailover(J, "", 9_000),
            new InterruptFailover(J, 2, "node restarted", 9_000), new CompleteFailoverCleanup(J, 9_500, ["machine vm1 stopped"])),
        Index.Select(i => (IFailoverJobCommand)new BeginFailoverStep(J, i, 2_000)),
        Index.Select(i => (IFailoverJobCommand)new CompleteFailoverStep(J, i, 2_500, "ok")),
        Index.Select(i => (IFailoverJobCommand)new FailFailoverStep(J, i, 2_500, "boom")),
        Index.Select(i => (IFailoverJobCommand)new RecordFailoverPoints(J, i, [P1], 2_100)),
        from i in Index from ok in Gen.Elements(true, false)
        select (IFailoverJobCommand)new RecordMachinesStarted(J, i, [Started("vm1")], [Boot("vm1", ok)]),
        from i in Index from ok in Gen.Elements(true, false) select (IFailoverJobCommand)new RecordDrillReport(J, i, Report(ok)),
        from i in Index from c in Gen.Elements("done", "", "  ") select (IFailoverJobCommand)new ConfirmManualAction(J, i, c, 2_200),
        Index.Select(i => (IFailoverJobCommand)new RetryFailoverStep(J, i, 2_300)),
        from i in Index from c in Gen.Elements("not needed", "") select (IFailoverJobCommand)new SkipFailoverStep(J, i, c, 2_300),
        Gen.Elements<IFailoverJobCommand>(new CommitFailover(J, 9_100), new RollbackFailover(J, "wrong point", 9_200), new RollbackFailover(J, "", 9_200),
            new ChangeFailoverPoint(J, new FailoverPointChoice("bookmark", "app-1"), 9_300), new ChangeFailoverPoint(J, new FailoverPointChoice("nope"), 9_300)));

    [Property(MaxTest = 500)]
    public Property Steps_run_one_at_a_time_in_order_and_the_status_tells_the_truth() =>
        Prop.ForAll(Gen.ArrayOf(Command).ToArbitrary(), commands =>
        {
            Checker.Run<FailoverJobState, IFailoverJobCommand, IFailoverJobEvent>(FailoverJobState.Empty(J), commands, (before, after, command) =>
            {
                Assert.True(after.Steps.Count(s => s.State == FailoverStepState.Running) <= 1, "two steps run at once");
                // No step has started while an earlier one is still pending.
                var firstPending = after.Steps.FindIndex(s => s.State == FailoverStepState.Pending);
                if (firstPending >= 0) Assert.All(after.Steps.Skip(firstPending), s => Assert.Equal(FailoverStepState.Pending, s.State));
                Assert.Equal(after.Status == FailoverJobStatus.Completed,
                    after.Steps.Count > 0 && after.Steps.All(s => s.State is FailoverStepState.Succeeded or FailoverStepState.Skipped) && after.Status is not (FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp));
                if (after.Status == FailoverJobStatus.WaitingForOperator) Assert.Equal(FailoverStepKind.Manual, after.Current!.Plan.Kind);
                if (after.Status == FailoverJobStatus.StepFailed) Assert.Contains(after.Steps, s => s.State == FailoverStepState.Failed);
                // A cleaned-up job never comes back to life, and nothing is forgotten.
                if (before.Status == FailoverJobStatus.CleanedUp) Assert.Equal(FailoverJobStatus.CleanedUp, after.Status);
                if (before.Status == FailoverJobStatus.CleaningUp) Assert.True(after.Status is FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp);
                Assert.True(after.History.Count >= before.History.Count);
                Assert.True(after.Started.Count >= before.Started.Count, "a started machine was forgotten before its cleanup");
                // Only a test failover cleans up by command; a time-to-live only on a test failover.
                if (after.Status == FailoverJobStatus.CleaningUp && before.Status != FailoverJobStatus.CleaningUp && command is CleanupFailover)
                    Assert.Equal(FailoverKind.Test, after.Kind);
                if (after.TtlSeconds is not null) Assert.Equal(FailoverKind.Test, after.Kind);
                // A commit is final, and only a failover of production (planned, unplanned) is committed.
                if (before.Status == FailoverJobStatus.Committed) Assert.Equal(FailoverJobStatus.Committed, after.Status);
                if (after.Status == FailoverJobStatus.Committed) Assert.NotEqual(FailoverKind.Test, after.Kind);
            });
        });

    static readonly ReverseTarget Original = new("orig:9500", "http://orig:9700");

    /// <summary>A planned failover whose every step went well, committed.</summary>
    internal static FailoverJobState Committed()
    {
        var s = Run(Start(FailoverKind.Planned), new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3),
            new ConfirmManualAction(J, 1, "db checked", 4), new BeginFailoverStep(J, 2, 5), new RecordMachinesStarted(J, 2, [Started("vm1")], [Boot("vm1", true)]),
            new BeginFailoverStep(J, 3, 6), new CompleteFailoverStep(J, 3, 7, "ok"), new BeginFailoverStep(J, 4, 8),
            new RecordMachinesStarted(J, 4, [Started("vm2"), Started("vm3")], [Boot("vm2", true), Boot("vm3", true)]), new BeginFailoverStep(J, 5, 9),
            new RecordDrillReport(J, 5, Report(true)), new CommitFailover(J, 10));
        Assert.Equal(FailoverJobStatus.Committed, s.Status);
        return s;
    }

    static readonly Gen<IFailoverJobCommand> ReverseCommand = Gen.Elements<IFailoverJobCommand>(
        new ReprotectFailover(J, Original, 11), new ReprotectFailover(J, Original with { ProcessServer = "orig" }, 11), new ReprotectFailover(J, Original with { Api = "x" }, 11),
        new RecordReprotected(J, [new ReverseMachineRecord("vm1", 7, "/f", "/f/agent.log", "127.0.0.1:1", [new ReverseDiskRecord("vm1-d", 1 << 20, 4096, 1, 0, 0.5)])],
            [Started("vm1") with { InstanceId = "i-vm1-r" }], [Boot("vm1", true)], 12),
        new FailReprotect(J, "refused", 12), new FailbackFailover(J, 13), new FailbackFailover(J, 13, Return: true), new RecordFailedBack(J, [new FailbackDiskRecord("vm1-d", 40, "ab")], 14),
        new ReturnMachines(J, 14), new FailReturn(J, "did not boot", 14),
        new RecordReturned(J, [new ReturnedMachineRecord("vm1", "http://orig", 8, "127.0.0.1:2", "/o/agent.log", [new ReverseDiskRecord("vm1-d", 1 << 20, 0, 0, 256, 0.5)], 9, "/o/console.log", "tcg", true, 9.5, null, null)], 15),
        new FailFailback(J, "timed out", 14), new RollbackFailover(J, "undo", 15), new CleanupFailover(J, "operator", 15), new InterruptFailover(J, null, "restart", 15),
        new CommitFailover(J, 15), new ChangeFailoverPoint(J, new FailoverPointChoice("latest"), 15),
        new RecordCommitCaptured(J, new CommitCapture([new CaptureAgentRecord("vm1", 6, "/f", "/f/agent.log", "127.0.0.1:1", false)],
            [Started("vm1") with { Disks = [new ServedDiskRecord("vm1-d", "reverse-agent", "nbd://127.0.0.1:1/vm1-d", 0, 1 << 20)] }], [Boot("vm1", true)], ["vm2: the agent did not start"]), 11),
        new FailCommitCapture(J, "cancelled", 11));

    [Property(MaxTest = 300)]
    public Property After_a_commit_only_a_reprotect_then_a_failback_and_a_return_move_the_job_and_a_return_is_final() =>
        Prop.ForAll(Gen.ArrayOf(ReverseCommand).ToArbitrary(), commands =>
        {
            Checker.Run<FailoverJobState, IFailoverJobCommand, IFailoverJobEvent>(Committed(), commands, (before, after, command) =>
            {
                Assert.True(after.AfterCommit, $"{command.GetType().Name} took a committed job back to {after.Status}");
                // Nothing moves the machines while the commit still moves them onto their capturing agents.
                if (before.CaptureOwed) Assert.Equal(FailoverJobStatus.Committed, after.Status);
                if (after.CaptureOwed) Assert.Empty(after.CaptureAgents);
                if (!before.CaptureOwed) Assert.False(after.CaptureOwed);
                if (before.Status == FailoverJobStatus.Returned) Assert.Equal(FailoverJobStatus.Returned, after.Status);
                // Every move is one step along committed → reprotecting → reprotected → failing back → failed back → returning →
                // returned (or one back on a failure); a failback asked to return goes from failing back straight to returning.
                var moves = new HashSet<(FailoverJobStatus, FailoverJobStatus)>
                {
                    (FailoverJobStatus.Committed, FailoverJobStatus.Reprotecting), (FailoverJobStatus.Reprotecting, FailoverJobStatus.Reprotected),
                    (FailoverJobStatus.Reprotecting, FailoverJobStatus.Committed), (FailoverJobStatus.Reprotected, FailoverJobStatus.FailingBack),
                    (FailoverJobStatus.FailingBack, FailoverJobStatus.FailedBack), (FailoverJobStatus.FailingBack, FailoverJobStatus.Reprotected),
                    (FailoverJobStatus.FailingBack, FailoverJobStatus.Returning), (FailoverJobStatus.FailedBack, FailoverJobStatus.Returning),
                    (FailoverJobStatus.Returning, FailoverJobStatus.Returned), (FailoverJobStatus.Returning, FailoverJobStatus.FailedBack),
                };
                // A return waits for the drain: never before the original site holds every write.
                if (after.Status is FailoverJobStatus.Returning or FailoverJobStatus.Returned) Assert.NotEmpty(after.FailbackDisks);
                Assert.Equal(after.Status == FailoverJobStatus.Returned, after.Returned.Count > 0);
                if (after.ReturnAfterFailback) Assert.Equal(FailoverJobStatus.FailingBack, after.Status);
                if (before.Status != after.Status) Assert.Contains((before.Status, after.Status), moves);
                if (after.Status is not FailoverJobStatus.Committed) Assert.Equal(Original, after.Reverse);
                if (after.Status is not (FailoverJobStatus.Committed or FailoverJobStatus.Reprotecting)) Assert.NotEmpty(after.ReverseMachines);
                Assert.Equal(after.Status is FailoverJobStatus.FailedBack or FailoverJobStatus.Returning or FailoverJobStatus.Returned, after.FailbackDisks.Count > 0);
                // The machines stay recorded: the reverse agent's restart replaces a record, never drops one.
                Assert.Equal(3, after.Started.Count);
                Assert.True(after.History.Count >= before.History.Count);
            });
        });

    [Fact]
    public void A_planned_failover_changed_to_another_point_does_not_stop_its_source_again()
    {
        var steps = FailoverSteps.Build([new BootGroup(["vm1"], [], [])], FailoverKind.Planned);
        var s = Run(new StartFailoverJob(J, "plan1", 1, FailoverKind.Planned, new FailoverPointChoice("bookmark", "planned-job1"), steps, ["vm1"], 1_000, null),
            new BeginFailoverStep(J, 0, 1), new CompleteFailoverStep(J, 0, 2, "stopped"), new BeginFailoverStep(J, 1, 3), new RecordFailoverPoints(J, 1, [P1], 4),
            new BeginFailoverStep(J, 2, 5), new RecordMachinesStarted(J, 2, [Started("vm1")], [Boot("vm1", true)]));
        Assert.Equal(FailoverJobStatus.Completed, s.Status);
        s = Run(s, new ChangeFailoverPoint(J, new FailoverPointChoice("latest"), 6));
        Assert.Equal(FailoverStepState.Succeeded, s.Steps[0].State);
        Assert.Equal("stopped", s.Steps[0].Output);
        Assert.Equal(new FailoverNext.Begin(1), s.Next());
    }

    [Fact]
    public void A_manual_action_confirmed_twice_is_refused_naming_its_state_and_nothing_changes()
    {
        var s = Run(Start(), new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3));
        Assert.Equal(FailoverJobStatus.WaitingForOperator, s.Status);
        s = Run(s, new ConfirmManualAction(J, 1, "db checked", 4));
        var again = s.Decide(new ConfirmManualAction(J, 1, "again", 5));
        Assert.Empty(again.Events);
        Assert.Contains("is Succeeded", again.Rejection!.Message);
        Assert.Contains("not waiting for an operator", again.Rejection.Message);
        Assert.Equal(RejectionReason.InvalidState, again.Rejection.Reason);
    }

    [Fact]
    public void Confirming_a_step_that_is_not_a_manual_action_names_the_manual_actions()
    {
        var s = Run(Start(), new BeginFailoverStep(J, 0, 1));
        var r = s.Decide(new ConfirmManualAction(J, 3, "x", 2)).Rejection!;
        Assert.Contains("step 3", r.Message);
        Assert.Contains("1 'check the database'", r.Message);
    }

    [Fact]
    public void A_confirmation_or_skip_needs_a_comment()
    {
        var s = Run(Start(), new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3));
        Assert.Contains("Comment", s.Decide(new ConfirmManualAction(J, 1, " ", 4)).Rejection!.Message);
        Assert.Contains("Comment", s.Decide(new SkipFailoverStep(J, 1, "", 4)).Rejection!.Message);
        Assert.Contains("control characters", s.Decide(new ConfirmManualAction(J, 1, "a\u0007b", 4)).Rejection!.Message);
    }

    [Fact]
    public void A_failed_step_is_retried_or_skipped_and_the_job_goes_on_from_it()
    {
        var s = Run(Start(), new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3),
            new ConfirmManualAction(J, 1, "ok", 4), new BeginFailoverStep(J, 2, 5),
            new RecordMachinesStarted(J, 2, [Started("vm1")], [Boot("vm1", false)]));
        Assert.Equal(FailoverJobStatus.StepFailed, s.Status);
        Assert.Contains("vm1 did not boot: timed out", s.Steps[2].Error);
        Assert.IsType<FailoverNext.Wait>(s.Next());
        s = Run(s, new RetryFailoverStep(J, 2, 6));
        Assert.Equal(new FailoverNext.Begin(2), s.Next());
        s = Run(s, new BeginFailoverStep(J, 2, 7));
        Assert.Equal(2, s.Steps[2].Attempts);
        s = Run(s, new FailFailoverStep(J, 2, 8, "again"), new SkipFailoverStep(J, 2, "vm1 is not needed for this drill", 9));
        Assert.Equal(new FailoverNext.Begin(3), s.Next());
        Assert.Single(s.Started);
    }

    [Fact]
    public void The_point_step_cannot_be_skipped()
    {
        var s = Run(Start(), new BeginFailoverStep(J, 0, 1), new FailFailoverStep(J, 0, 2, "no point"));
        var r = s.Decide(new SkipFailoverStep(J, 0, "skip", 3)).Rejection!;
        Assert.Contains("cannot be skipped", r.Message);
    }

    [Fact]
    public void A_completed_test_failover_with_a_ttl_cleans_itself_up_when_it_passes()
    {
        var s = Run(Start(ttl: 60), new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3),
            new ConfirmManualAction(J, 1, "ok", 4), new BeginFailoverStep(J, 2, 5), new RecordMachinesStarted(J, 2, [Started("vm1")], [Boot("vm1", true)]),
            new BeginFailoverStep(J, 3, 6), new CompleteFailoverStep(J, 3, 7, "exit 0"), new BeginFailoverStep(J, 4, 8),
            new RecordMachinesStarted(J, 4, [Started("vm2"), Started("vm3")], [Boot("vm2", true), Boot("vm3", true)]),
            new BeginFailoverStep(J, 5, 9), new RecordDrillReport(J, 5, Report(true)));
        Assert.Equal(FailoverJobStatus.Completed, s.Status);
        Assert.Equal(new FailoverNext.CleanupAt(5_000 + 60_000), s.Next());
        s = Run(s, new CleanupFailover(J, "ttl", 70_000));
        Assert.IsType<FailoverNext.Cleanup>(s.Next());
        s = Run(s, new CompleteFailoverCleanup(J, 71_000, ["machine vm1 stopped"]));
        Assert.Equal(FailoverJobStatus.CleanedUp, s.Status);
        Assert.Equal(3, s.Started.Count);
    }

    [Fact]
    public void A_bad_start_is_refused_naming_the_field()
    {
        var empty = FailoverJobState.Empty(J);
        Assert.Contains("TtlSeconds", empty.Decide(Start(ttl: 5)).Rejection!.Message);
        Assert.Contains("test failover only", empty.Decide(Start(FailoverKind.Unplanned, 60)).Rejection!.Message);
        Assert.Contains("Point.Kind", empty.Decide(Start() with { Point = new FailoverPointChoice("newest") }).Rejection!.Message);
        Assert.Contains("Point.Bookmark", empty.Decide(Start() with { Point = new FailoverPointChoice("bookmark") }).Rejection!.Message);
        Assert.Contains("Machines", empty.Decide(Start() with { Machines = [] }).Rejection!.Message);
        Assert.Contains("Steps[1].Index", empty.Decide(Start() with { Steps = [Steps[0], Steps[2]] }).Rejection!.Message);
        Assert.Equal(RejectionReason.NotRegistered, empty.Decide(new CleanupFailover(J, "x", 1)).Rejection!.Reason);
        var started = Run(Start());
        Assert.Equal(RejectionReason.Conflict, started.Decide(Start()).Rejection!.Reason);
    }

    [Fact]
    public void Only_a_test_failover_is_cleaned_up_by_command()
    {
        var s = Run(Start(FailoverKind.Planned));
        Assert.Contains("cleanup applies to test failovers", s.Decide(new CleanupFailover(J, "x", 1)).Rejection!.Message);
        // A restart still rolls back whatever kind it interrupted.
        Assert.Equal(FailoverJobStatus.CleaningUp, Run(s, new InterruptFailover(J, 0, "node restarted", 2)).Status);
    }

    [Fact]
    public void An_unplanned_failover_is_committed_or_rolled_back_never_cleaned_up_and_a_commit_is_final()
    {
        var unplanned = new StartFailoverJob(J, "plan1", 1, FailoverKind.Unplanned, new FailoverPointChoice("latest"),
            [Steps[0], Steps[2] with { Index = 1 }], ["vm1"], 1_000, null);
        var s = Run(unplanned, new BeginFailoverStep(J, 0, 1), new RecordFailoverPoints(J, 0, [P1], 2), new BeginFailoverStep(J, 1, 3));
        Assert.Contains("only a failover whose machines all started", s.Decide(new CommitFailover(J, 4)).Rejection!.Message);
        s = Run(s, new RecordMachinesStarted(J, 1, [Started("vm1")], [Boot("vm1", true)]));
        Assert.Equal(FailoverJobStatus.Completed, s.Status);
        Assert.IsType<FailoverNext.Wait>(s.Next());
        Assert.Contains("cleanup applies to test failovers", s.Decide(new CleanupFailover(J, "x", 5)).Rejection!.Message);

        // Another point: the plan runs again from its first step.
        var changed = Run(s, new ChangeFailoverPoint(J, new FailoverPointChoice("bookmark", "auto-0"), 6));
        Assert.Equal(new FailoverNext.Begin(0), changed.Next());
        Assert.All(changed.Steps, x => Assert.Equal(FailoverStepState.Pending, x.State));
        Assert.Equal("auto-0", changed.Point!.Bookmark);

        var rolledBack = Run(s, new RollbackFailover(J, "wrong point", 7));
        Assert.Equal(FailoverJobStatus.CleaningUp, rolledBack.Status);
        Assert.Equal("rollback: wrong point", rolledBack.CleanupReason);

        var committed = Run(s, new CommitFailover(J, 8));
        Assert.Equal(FailoverJobStatus.Committed, committed.Status);
        Assert.Contains("reprotect and fail back", committed.Decide(new RollbackFailover(J, "oops", 9)).Rejection!.Message);
        Assert.Empty(committed.Decide(new InterruptFailover(J, null, "node restarted", 10)).Events);
        Assert.Empty(committed.Decide(new CommitFailover(J, 11)).Events);
        Assert.Equal(RejectionReason.InvalidState, committed.Decide(new ChangeFailoverPoint(J, new FailoverPointChoice("latest"), 12)).Rejection!.Reason);
    }

    [Fact]
    public void A_test_failover_is_never_committed_nor_rolled_back()
    {
        var s = Run(Start());
        Assert.Contains("never committed", s.Decide(new CommitFailover(J, 1)).Rejection!.Message);
        Assert.Contains("clean it up instead", s.Decide(new RollbackFailover(J, "x", 1)).Rejection!.Message);
    }

    internal static FailoverJobState Run(params IFailoverJobCommand[] commands) => Run(FailoverJobState.Empty(J), commands);

    internal static FailoverJobState Run(FailoverJobState s, params IFailoverJobCommand[] commands)
    {
        foreach (var c in commands)
        {
            var d = s.Decide(c);
            Assert.True(d.Rejection is null, $"{c.GetType().Name} refused: {d.Rejection?.Message}");
            s = d.Events.Aggregate(s, (x, e) => x.Apply(e));
        }
        return s;
    }
}
