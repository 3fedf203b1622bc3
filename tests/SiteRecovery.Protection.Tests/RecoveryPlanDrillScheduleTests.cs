using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.RecoveryPlan;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary><see cref="SetDrillSchedule"/> on the pure recovery-plan state: rules named, old journals replaying, the view.</summary>
public sealed class RecoveryPlanDrillScheduleTests
{
    private static readonly BootGroup[] OneGroup = [new BootGroup(["vm1"], [], [])];

    private static RecoveryPlanState Run(RecoveryPlanState state, params IRecoveryPlanCommand[] commands)
    {
        foreach (var c in commands)
        {
            var d = state.Decide(c);
            Assert.False(d.IsRejected, d.Rejection?.Message);
            state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
        }
        return state;
    }

    private static RecoveryPlanState Created() => Run(RecoveryPlanState.Empty("p1"), new CreateRecoveryPlan("p1", "vault-a", null, OneGroup, 1));

    [Theory]
    [InlineData(0L, null, "SetDrillSchedule.DrillEvery must be within 01:00:00..366.00:00:00 (was 00:00:00)")]
    [InlineData(3599L, null, "SetDrillSchedule.DrillEvery must be within 01:00:00..366.00:00:00 (was 00:59:59)")]
    [InlineData(367L * 86400, null, "SetDrillSchedule.DrillEvery must be within")]
    [InlineData(3600L, 9L, "SetDrillSchedule.DrillTtl must be whole seconds within 10..604800 s (was 00:00:09)")]
    [InlineData(3600L, 8L * 86400, "SetDrillSchedule.DrillTtl must be whole seconds within 10..604800 s")]
    [InlineData(null, 60L, "SetDrillSchedule.DrillTtl needs a DrillEvery")]
    public void A_bad_schedule_is_rejected_naming_the_field_and_the_rule(long? everySeconds, long? ttlSeconds, string want)
    {
        var state = Created();
        var d = state.Decide(new SetDrillSchedule("p1", everySeconds is { } e ? TimeSpan.FromSeconds(e) : null, ttlSeconds is { } t ? TimeSpan.FromSeconds(t) : null, 5));
        Assert.True(d.IsRejected, "accepted a bad schedule");
        Assert.Equal(RejectionReason.InvalidArgument, d.Rejection!.Reason);
        Assert.Contains(want, d.Rejection.Message);
        Assert.Empty(d.Events);
    }

    [Fact]
    public void The_minimum_given_with_the_command_is_the_rule()
    {
        var state = Created();
        Assert.False(state.Decide(new SetDrillSchedule("p1", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), 5, TimeSpan.FromSeconds(10))).IsRejected);
        var d = state.Decide(new SetDrillSchedule("p1", TimeSpan.FromSeconds(9), null, 5, TimeSpan.FromSeconds(10)));
        Assert.Contains("DrillEvery must be within 00:00:10..", d.Rejection?.Message);
    }

    [Fact]
    public void Setting_defaults_the_ttl_bumps_the_version_shows_in_the_view_and_repeating_it_is_a_no_op()
    {
        var state = Run(Created(), new SetDrillSchedule("p1", TimeSpan.FromDays(7), null, 5));
        Assert.Equal((TimeSpan.FromDays(7), TimeSpan.FromMinutes(30), 2L), (state.DrillEvery!.Value, state.DrillTtl!.Value, state.Version));
        Assert.Equal((TimeSpan.FromDays(7), TimeSpan.FromMinutes(30)), (state.ToView().DrillEvery!.Value, state.ToView().DrillTtl!.Value));
        Assert.True(state.Decide(new SetDrillSchedule("p1", TimeSpan.FromDays(7), TimeSpan.FromMinutes(30), 6)) is { IsRejected: false, Events.Count: 0 });

        // An update keeps the schedule, removing it clears both, a delete clears it too.
        var updated = Run(state, new UpdateRecoveryPlan("p1", "tier 1", [new BootGroup(["vm2"], [], [])], 7));
        Assert.Equal(TimeSpan.FromDays(7), updated.DrillEvery);
        var removed = Run(updated, new SetDrillSchedule("p1", null, null, 8));
        Assert.Equal((null, null), (removed.DrillEvery, removed.DrillTtl));
        var deleted = Run(updated, new DeleteRecoveryPlan("p1", 9));
        Assert.Null(deleted.DrillEvery);
        Assert.Equal(RejectionReason.NotRegistered, deleted.Decide(new SetDrillSchedule("p1", TimeSpan.FromDays(1), null, 10)).Rejection?.Reason);
    }

    [Fact]
    public void A_journal_written_before_drill_schedules_replays_to_a_plan_without_one_and_a_new_one_replays_the_same()
    {
        IRecoveryPlanEvent[] v1 =
        [
            new RecoveryPlanCreated("p1", "vault-a", "d", OneGroup, 1),
            new RecoveryPlanUpdated("p1", "e", [new BootGroup(["vm1", "vm2"], [], [])], 2),
        ];
        var old = v1.Aggregate(RecoveryPlanState.Empty("p1"), (s, e) => s.Apply(e));
        Assert.True(old.Exists);
        Assert.Equal((null, null, 2L), (old.DrillEvery, old.DrillTtl, old.Version));

        var live = Run(old, new SetDrillSchedule("p1", TimeSpan.FromHours(6), TimeSpan.FromMinutes(45), 3));
        var journal = v1.Append(new RecoveryPlanDrillScheduleSet("p1", TimeSpan.FromHours(6), TimeSpan.FromMinutes(45), 3));
        var replayed = journal.Aggregate(RecoveryPlanState.Empty("p1"), (s, e) => s.Apply(e));
        Assert.Equal(Checker.Fingerprint(live), Checker.Fingerprint(replayed));
        Assert.Equal(TimeSpan.FromHours(6), replayed.DrillEvery);
    }
}
