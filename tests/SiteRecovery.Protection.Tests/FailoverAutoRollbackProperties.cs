using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>
/// A planned failover's commit policy: rolled back by itself when nobody commits it in time after it completed; the
/// timer runs only while such a job is completed and uncommitted, restarts at each completion, and never exists for an
/// unplanned failover.
/// </summary>
public sealed class FailoverAutoRollbackProperties
{
    const string J = "job1";
    const int Policy = 120;

    static readonly MachinePoint P1 = new("vm1", "planned-job1", new Dictionary<string, long> { ["d1"] = 10 }, 900, "crash-consistent");

    static IReadOnlyList<FailoverStepPlan> StepsOf(FailoverKind kind) => FailoverSteps.Build([new BootGroup(["vm1"], [], [])], kind);

    static StartFailoverJob Start(FailoverKind kind, int? autoRollback, int? minimum = null) =>
        new(J, "plan1", 1, kind, kind == FailoverKind.Planned ? new FailoverPointChoice("bookmark", "planned-job1") : new FailoverPointChoice("latest"),
            StepsOf(kind), ["vm1"], 1_000, null, autoRollback, minimum);

    static StartedMachineRecord Started => new("local", "vm1", "vm1", "i-vm1", 100, "/tmp/vm1.console", "tcg", 2_000, [new ServedDiskRecord("d1", "e1", "file:///x", 10, 1 << 20)]);

    static readonly Gen<long> At = Gen.Choose(2_000, 90_000).Select(x => (long)x);
    static readonly Gen<int> Index = Gen.Choose(0, 3);

    static readonly Gen<IFailoverJobCommand> Command = Gen.OneOf(
        Gen.Elements<IFailoverJobCommand>(Start(FailoverKind.Planned, Policy), Start(FailoverKind.Planned, null), Start(FailoverKind.Unplanned, null),
            Start(FailoverKind.Unplanned, Policy), Start(FailoverKind.Test, Policy), Start(FailoverKind.Planned, 5)),
        from i in Index from at in At select (IFailoverJobCommand)new BeginFailoverStep(J, i, at),
        from i in Index from at in At select (IFailoverJobCommand)new CompleteFailoverStep(J, i, at, "ok"),
        from i in Index from at in At select (IFailoverJobCommand)new FailFailoverStep(J, i, at, "boom"),
        from i in Index from at in At select (IFailoverJobCommand)new RetryFailoverStep(J, i, at),
        from i in Index from at in At select (IFailoverJobCommand)new RecordFailoverPoints(J, i, [P1], at),
        from i in Index select (IFailoverJobCommand)new RecordMachinesStarted(J, i, [Started], [new MachineBootRecord("vm1", true, 3_000, 1, null, null, [])]),
        from at in At select (IFailoverJobCommand)new CommitFailover(J, at),
        from at in At select (IFailoverJobCommand)new RollbackFailover(J, "operator", at),
        from at in At select (IFailoverJobCommand)new ChangeFailoverPoint(J, new FailoverPointChoice("latest"), at),
        from at in At select (IFailoverJobCommand)new CompleteFailoverCleanup(J, at, []));

    [Property(MaxTest = 1000)]
    public Property The_rollback_timer_runs_only_for_a_completed_uncommitted_planned_failover_with_the_policy() =>
        Prop.ForAll(Gen.ArrayOf(Command).ToArbitrary(), commands =>
        {
            var s = FailoverJobState.Empty(J);
            foreach (var c in commands)
            {
                var d = s.Decide(c);
                if (d.Rejection is not null) continue;
                s = d.Events.Aggregate(s, (x, e) => x.Apply(e));
                var next = s.Next();
                var want = s.Status == FailoverJobStatus.Completed && s.Kind == FailoverKind.Planned && s.AutoRollbackSeconds is { } n
                    ? new FailoverNext.RollbackAt(s.CompletedUnixMs!.Value + n * 1000L)
                    : null;
                if (want is not null) Assert.Equal(want, next);
                else Assert.IsNotType<FailoverNext.RollbackAt>(next);
                Assert.Equal(want?.AtUnixMs, s.AutoRollbackAtUnixMs);
                Assert.Equal(want?.AtUnixMs, s.ToView().AutoRollbackAtUnixMs);
                // Only a planned job ever holds a policy: an unplanned failover is never rolled back by itself.
                if (s.Kind != FailoverKind.Planned) Assert.Null(s.AutoRollbackSeconds);
            }
        });

    static FailoverJobState Completed(int? policy = Policy)
    {
        var s = FailoverJobProperties.Run(FailoverJobState.Empty(J), Start(FailoverKind.Planned, policy), new BeginFailoverStep(J, 0, 1_100));
        return FailoverJobProperties.Run(s, new CompleteFailoverStep(J, 0, 1_200, "stopped"), new BeginFailoverStep(J, 1, 1_300),
            new RecordFailoverPoints(J, 1, [P1], 1_400), new BeginFailoverStep(J, 2, 1_500), new RecordMachinesStarted(J, 2, [Started], [new MachineBootRecord("vm1", true, 3_000, 1, null, null, [])]));
    }

    [Fact]
    public void A_completed_planned_failover_is_rolled_back_when_its_policy_ends_unless_committed()
    {
        var s = Completed();
        Assert.Equal(FailoverJobStatus.Completed, s.Status);
        Assert.Equal(new FailoverNext.RollbackAt(3_000 + Policy * 1000L), s.Next());
        Assert.Contains(s.History, h => h.Contains($"rolled back by itself if not committed within {Policy} s of completing"));

        // The timer's command is the operator's rollback: the same cleanup, marked as a rollback.
        var rolledBack = FailoverJobProperties.Run(s, new RollbackFailover(J, $"not committed within {Policy} s (commit policy)", 123_000));
        Assert.Equal(FailoverJobStatus.CleaningUp, rolledBack.Status);
        Assert.Equal($"rollback: not committed within {Policy} s (commit policy)", rolledBack.CleanupReason);

        // A commit stops it; a rollback that arrives late is refused.
        var committed = FailoverJobProperties.Run(s, new CommitFailover(J, 4_000));
        // Next is the commit's capture (its machines onto their agents), never the rollback timer.
        Assert.IsType<FailoverNext.Capture>(committed.Next());
        Assert.Null(committed.ToView().AutoRollbackAtUnixMs);
        Assert.Equal(RejectionReason.InvalidState, committed.Decide(new RollbackFailover(J, "late", 123_000)).Rejection!.Reason);

        // A change of point restarts the clock at the new completion.
        var changed = FailoverJobProperties.Run(s, new ChangeFailoverPoint(J, new FailoverPointChoice("latest"), 10_000));
        // The source stays stopped: the rerun begins with the resolve step.
        Assert.Equal(new FailoverNext.Begin(1), changed.Next());
        changed = FailoverJobProperties.Run(changed, new BeginFailoverStep(J, 1, 10_300),
            new RecordFailoverPoints(J, 1, [P1], 10_400), new BeginFailoverStep(J, 2, 10_500),
            new RecordMachinesStarted(J, 2, [Started], [new MachineBootRecord("vm1", true, 11_000, 1, null, null, [])]));
        Assert.Equal(new FailoverNext.RollbackAt(11_000 + Policy * 1000L), changed.Next());

        Assert.IsType<FailoverNext.Wait>(Completed(null).Next());
    }

    [Fact]
    public void The_policy_is_refused_for_an_unplanned_or_test_failover_and_outside_its_bounds()
    {
        var empty = FailoverJobState.Empty(J);
        Assert.Equal("StartFailoverJob.AutoRollbackSeconds: an unplanned failover is never rolled back by itself: rolling back would throw production writes away",
            empty.Decide(Start(FailoverKind.Unplanned, Policy)).Rejection!.Message);
        Assert.Contains("planned failover only (a test failover cleans itself up after its ttlSeconds)", empty.Decide(Start(FailoverKind.Test, Policy)).Rejection!.Message);
        Assert.Equal("StartFailoverJob.AutoRollbackSeconds: 59 is outside 60..604800 (at least the node's auto-rollback-minimum, at most 7 days)",
            empty.Decide(Start(FailoverKind.Planned, 59)).Rejection!.Message);
        Assert.Contains("604801 is outside 60..604800", empty.Decide(Start(FailoverKind.Planned, 604_801)).Rejection!.Message);
        Assert.Contains("auto-rollback-minimum must be within 1..604800 s (was 0)", empty.Decide(Start(FailoverKind.Planned, 5, 0)).Rejection!.Message);
        // A node that lowered its minimum (tests) allows a shorter policy.
        Assert.Null(empty.Decide(Start(FailoverKind.Planned, 5, 1)).Rejection);
        Assert.Null(empty.Decide(Start(FailoverKind.Planned, 60)).Rejection);
    }

    [Fact]
    public void A_job_started_event_recorded_before_the_policy_existed_reads_as_no_policy()
    {
        const string old = """
            {"JobId":"j1","PlanId":"p1","PlanVersion":3,"Kind":"Planned","Point":{"Kind":"bookmark","Bookmark":"planned-j1","Time":null},
             "Steps":[],"Machines":["vm1"],"RequestedUnixMs":1000,"TtlSeconds":null}
            """;
        var e = JsonSerializer.Deserialize<FailoverJobStarted>(old, ControlJsonSerializer.Options)!;
        Assert.Equal(("j1", FailoverKind.Planned, (int?)null), (e.JobId, e.Kind, e.AutoRollbackSeconds));
        var withPolicy = e with { AutoRollbackSeconds = 300 };
        Assert.Equal(withPolicy, JsonSerializer.Deserialize<FailoverJobStarted>(JsonSerializer.Serialize(withPolicy, ControlJsonSerializer.Options), ControlJsonSerializer.Options)! with
        {
            Steps = withPolicy.Steps, Machines = withPolicy.Machines,
        });
        // A snapshot of the state taken before the policy existed has no member for it either.
        var state = FailoverJobState.Empty("j1").Apply(e);
        var json = JsonSerializer.Serialize(state, ControlJsonSerializer.Options).Replace(",\"AutoRollbackSeconds\":null", "");
        Assert.DoesNotContain("AutoRollbackSeconds", json);
        Assert.Null(JsonSerializer.Deserialize<FailoverJobState>(json, ControlJsonSerializer.Options)!.AutoRollbackSeconds);
    }
}
