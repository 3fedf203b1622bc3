using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// The DrillFailed alert per recovery plan: raised when the plan's newest drill outcome is a failed report (or a failed
/// step of a test failover), cleared by a later passed drill of the same plan, other plans untouched.
/// </summary>
public sealed class DrillFailedAlertTests
{
    private const long T0 = 1_700_000_000_000;
    private static readonly IReadOnlySet<AlertKey> None = new HashSet<AlertKey>();
    private static readonly string[] PlanIds = ["plan-a", "plan-b", "plan-c"];

    private static DrillReport Report(string plan, string job, long completed, bool passed) =>
        new(job, plan, "latest", completed - 5_000, completed, 4_000, [], [], passed, passed ? null : "vm1: boot marker not seen within 180 s");

    private static FailoverDrillReported Reported(string plan, string job, long completed, bool passed) => new(job, 3, Report(plan, job, completed, passed));

    private static FailoverJobStarted TestStarted(string plan, string job, long at) =>
        new(job, plan, 1, FailoverKind.Test, new FailoverPointChoice("latest"), [], ["vm1"], at, 60);

    private static IReadOnlyList<Observation> Drills(AlertFacts facts) =>
        AlertRules.Evaluate(facts, None, T0 + 3_600_000, AlertSettings.Default).Where(o => o.Kind == AlertKind.DrillFailed).ToList();

    private static Observation? Drill(AlertFacts facts, string plan) => Drills(facts).SingleOrDefault(o => o.Target == plan);

    private static AlertFacts Facts(params object[] events) => events.Aggregate(AlertFacts.Empty, (f, e) => f.Apply(e, T0));

    [Fact]
    public void A_failed_report_raises_the_alert_naming_the_job_and_the_failure()
    {
        var o = Drill(Facts(Reported("plan-a", "test-plan-a-1", T0 + 1_000, passed: false)), "plan-a");
        Assert.NotNull(o);
        Assert.True(o!.Holds, o.Detail);
        Assert.Contains("drill test-plan-a-1 failed", o.Detail);
        Assert.Contains("boot marker not seen", o.Detail);
    }

    [Fact]
    public void A_later_passed_drill_clears_it_and_an_earlier_one_does_not()
    {
        var failed = Facts(Reported("plan-a", "j2", T0 + 2_000, passed: false));
        var earlier = failed.Apply(Reported("plan-a", "j1", T0 + 1_000, passed: true), T0);
        Assert.True(Drill(earlier, "plan-a")!.Holds, "an older passed report (arriving late) cleared the alert");
        var later = failed.Apply(Reported("plan-a", "j3", T0 + 3_000, passed: true), T0);
        var o = Drill(later, "plan-a")!;
        Assert.False(o.Holds, o.Detail);
        Assert.Contains("drill j3 passed", o.Detail);
    }

    [Fact]
    public void A_failed_step_of_a_test_failover_raises_it_and_a_planned_failover_step_does_not()
    {
        var stepFailed = Facts(TestStarted("plan-a", "j1", T0), new FailoverStepFailed("j1", 2, T0 + 500, "qemu exited with code 1"));
        var o = Drill(stepFailed, "plan-a")!;
        Assert.True(o.Holds);
        Assert.Contains("drill j1 failed", o.Detail);
        Assert.Contains("step 2 failed: qemu exited with code 1", o.Detail);

        var planned = Facts(new FailoverJobStarted("j9", "plan-b", 1, FailoverKind.Planned, new FailoverPointChoice("latest"), [], ["vm1"], T0, null),
            new FailoverStepFailed("j9", 0, T0 + 500, "source still running"));
        Assert.Null(Drill(planned, "plan-b"));
    }

    [Fact]
    public void Deleting_the_plan_clears_it()
    {
        var o = Drill(Facts(Reported("plan-a", "j1", T0 + 1_000, false), new RecoveryPlanDeleted("plan-a", T0 + 2_000)), "plan-a")!;
        Assert.False(o.Holds);
        Assert.Contains("plan deleted", o.Detail);
    }

    [Fact]
    public void The_monitor_raises_and_then_clears_it()
    {
        var state = AlertState.Empty;
        var raise = state.Decide(new Observe(Drills(Facts(Reported("plan-a", "j1", T0 + 1_000, false))), T0 + 1_000));
        state = raise.Events.Aggregate(state, (s, e) => s.Apply(e));
        Assert.True(state.IsActive(AlertKind.DrillFailed, "plan-a"));
        var clear = state.Decide(new Observe(Drills(Facts(Reported("plan-a", "j1", T0 + 1_000, false), Reported("plan-a", "j2", T0 + 2_000, true))), T0 + 2_000));
        state = clear.Events.Aggregate(state, (s, e) => s.Apply(e));
        Assert.False(state.IsActive(AlertKind.DrillFailed, "plan-a"));
        Assert.Single(state.History, h => h.Kind == AlertKind.DrillFailed && h.Target == "plan-a");
    }

    private static readonly Gen<(string Plan, long At, bool Passed)> Outcome =
        from plan in Gen.Elements(PlanIds)
        from at in Gen.Choose(1, 1_000)
        from passed in Gen.Elements(true, false)
        select (plan, T0 + at * 1_000L, passed);

    /// <summary>
    /// Model: per plan the alert holds exactly when the newest report (by completion time; on a tie the later one in
    /// the journal) failed; a plan without a report has no observation.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property Each_plan_alerts_exactly_when_its_newest_report_failed() =>
        Prop.ForAll(Gen.ArrayOf(Outcome).ToArbitrary(), outcomes =>
        {
            var facts = outcomes.Select((o, i) => Reported(o.Plan, $"j{i}", o.At, o.Passed))
                .Aggregate(AlertFacts.Empty, (f, e) => f.Apply(e, T0));
            foreach (var plan in PlanIds)
            {
                var mine = outcomes.Select((o, i) => (o, i)).Where(x => x.o.Plan == plan).ToList();
                var observed = Drill(facts, plan);
                if (mine.Count == 0)
                {
                    Assert.Null(observed);
                    continue;
                }
                var newest = mine.OrderBy(x => x.o.At).ThenBy(x => x.i).Last();
                Assert.NotNull(observed);
                Assert.True(!newest.o.Passed == observed!.Holds, $"plan {plan}: newest j{newest.i} passed={newest.o.Passed}, observed holds={observed.Holds} ({observed.Detail})");
                Assert.Contains($"j{newest.i} ", observed.Detail);
            }
        });

    /// <summary>A report of one plan changes no other plan's observation.</summary>
    [Property(MaxTest = 300)]
    public Property A_report_of_one_plan_leaves_the_other_plans_untouched() =>
        Prop.ForAll(Gen.ArrayOf(Outcome).ToArbitrary(), Outcome.ToArbitrary(), (prefix, extra) =>
        {
            var before = prefix.Select((o, i) => Reported(o.Plan, $"j{i}", o.At, o.Passed)).Aggregate(AlertFacts.Empty, (f, e) => f.Apply(e, T0));
            var after = before.Apply(Reported(extra.Plan, "jx", extra.At, extra.Passed), T0);
            foreach (var plan in PlanIds.Where(p => p != extra.Plan))
                Assert.Equal(Drill(before, plan), Drill(after, plan));
        });
}
