using SiteRecovery.Actors.Alerts;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// The AppConsistencyFailed alert (raised when an app-consistent request of a machine was recorded crash-consistent,
/// cleared by a later app-consistent point) and the RPO read model, on facts built from real event records.
/// </summary>
public sealed class AppConsistencyAlertTests
{
    private const long T0 = 1_700_000_000_000;
    private static readonly IReadOnlySet<AlertKey> None = new HashSet<AlertKey>();

    private static AlertFacts Facts(params object[] events) => events.Aggregate(AlertFacts.Empty, (f, e) => f.Apply(e, T0));

    private static Observation App(AlertFacts facts, string machine) =>
        Assert.Single(AlertRules.Evaluate(facts, None, T0 + 60_000, AlertSettings.Default), o => o.Kind == AlertKind.AppConsistencyFailed && o.Target == machine);

    private static AppConsistencyFailed Failed(string machine, long at, string bookmark = "app-1") =>
        new(machine, null, bookmark, AppConsistencyFailure.HookFailed, "script /opt/q.sh freeze: exit 3 after 12 ms; stderr 'db locked'", at);

    [Fact]
    public void A_failed_app_consistent_request_raises_the_alert_naming_bookmark_reason_and_hook()
    {
        var o = App(Facts(Failed("m1", T0 + 1_000)), "m1");
        Assert.True(o.Holds);
        Assert.Contains("bookmark app-1", o.Detail);
        Assert.Contains("recorded crash-consistent: HookFailed", o.Detail);
        Assert.Contains("stderr 'db locked'", o.Detail);
        Assert.DoesNotContain(AlertRules.Evaluate(Facts(Failed("m1", T0)), None, T0, AlertSettings.Default), x => x.Kind == AlertKind.AppConsistencyFailed && x.Target != "m1");
    }

    [Fact]
    public void A_later_app_consistent_point_clears_it_and_an_earlier_one_does_not()
    {
        var failed = Facts(Failed("m1", T0 + 1_000));
        Assert.True(App(failed.Apply(new AppConsistentPointRecorded("m1", null, "app-0", T0 + 500), T0), "m1").Holds);
        var cleared = App(failed.Apply(new AppConsistentPointRecorded("m1", null, "app-2", T0 + 2_000), T0), "m1");
        Assert.False(cleared.Holds);
        Assert.Contains("last application-consistent point app-2", cleared.Detail);

        // events of different actors can arrive out of time order: the outcome depends on the times, not the arrival
        var reversed = Facts(new AppConsistentPointRecorded("m1", null, "app-2", T0 + 2_000), Failed("m1", T0 + 1_000));
        Assert.False(App(reversed, "m1").Holds);
        // and a new failure after the success raises it again
        Assert.True(App(reversed.Apply(Failed("m1", T0 + 3_000, "app-3"), T0), "m1").Holds);
    }

    [Fact]
    public void An_app_consistent_recovery_point_of_one_of_the_machines_disks_clears_it_a_crash_consistent_one_does_not()
    {
        var facts = Facts(new DiskRegistered("d1", "m1", 10, "ps", "mt"), Failed("m1", T0 + 1_000));
        Assert.True(App(facts.Apply(new RecoveryPointRecorded("d1", "auto-1", 5, T0 + 2_000, RecoveryPointKind.CrashConsistent), T0), "m1").Holds);
        Assert.False(App(facts.Apply(new RecoveryPointRecorded("d1", "app-2", 6, T0 + 2_000, RecoveryPointKind.AppConsistent), T0), "m1").Holds);
    }

    [Theory]
    [InlineData("agent vm1: freeze Failed: script /opt/q.sh freeze: exit 3", "HookFailed")]
    [InlineData("agent vm1: freeze TimedOut: not done within the hold's lease of 5000 ms", "HookTimedOut")]
    [InlineData("agent vm1: freeze Missing: script /opt/gone.sh does not exist", "HookMissing")]
    [InlineData("agent vm1: no application freeze hook is configured", "NoHooksConfigured")]
    public void A_point_recorded_with_an_app_consistency_failure_raises_the_alert_with_its_reason(string flag, string reason)
    {
        var facts = Facts(new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new RecoveryPointRecorded("d1", "grp-1", 5, T0 + 1_000, RecoveryPointKind.CrashConsistent, flag));
        var o = App(facts, "m1");
        Assert.True(o.Holds);
        Assert.Contains("bookmark grp-1", o.Detail);
        Assert.Contains($"recorded crash-consistent: {reason}", o.Detail);
        // a later app-consistent group point clears it
        Assert.False(App(facts.Apply(new RecoveryPointRecorded("d1", "grp-2", 9, T0 + 2_000, RecoveryPointKind.AppConsistent), T0), "m1").Holds);
    }

    [Fact]
    public void Machines_are_alerted_independently_and_a_long_detail_is_shortened()
    {
        var facts = Facts(Failed("m1", T0) with { Detail = new string('x', 5_000) }, new AppConsistentPointRecorded("m2", "d9", "app-1", T0));
        var m1 = App(facts, "m1");
        Assert.True(m1.Holds);
        Assert.True(m1.Detail.Length < AlertRules.AppConsistencyDetailLimit + 200, $"detail is {m1.Detail.Length} characters");
        Assert.EndsWith("…", m1.Detail);
        Assert.False(App(facts, "m2").Holds);
    }

    [Fact]
    public void The_alert_monitor_raises_then_clears_it_from_the_observations()
    {
        var state = AlertState.Empty;
        var raise = state.Decide(new Observe(AlertRules.Evaluate(Facts(Failed("m1", T0)), state.ActiveKeys, T0, AlertSettings.Default), T0));
        state = raise.Events.Aggregate(state, (s, e) => s.Apply(e));
        Assert.True(state.IsActive(AlertKind.AppConsistencyFailed, "m1"));
        var facts = Facts(Failed("m1", T0), new AppConsistentPointRecorded("m1", null, "app-2", T0 + 1));
        var clear = state.Decide(new Observe(AlertRules.Evaluate(facts, state.ActiveKeys, T0 + 1, AlertSettings.Default), T0 + 1));
        Assert.Contains(new AlertCleared(AlertKind.AppConsistencyFailed, "m1", T0 + 1), clear.Events);
    }

    [Fact]
    public void A_points_failure_kind_decides_the_reason_not_its_text_and_a_healthy_group_member_raises_nothing()
    {
        // The group's text names both machines; each disk's kind says what happened on its own machine.
        const string both = "agent m1: freeze TimedOut: fsfreeze /data; agent m2: no application freeze hook is configured";
        var facts = Facts(new DiskRegistered("d1", "m1", 10, "ps", "mt"), new DiskRegistered("d3", "m3", 10, "ps", "mt"),
            new RecoveryPointRecorded("d1", "grp-1", 5, T0 + 1_000, RecoveryPointKind.CrashConsistent, both, AppConsistencyFailure.HookTimedOut),
            new RecoveryPointRecorded("d3", "grp-1", 7, T0 + 1_000, RecoveryPointKind.CrashConsistent, both, AppConsistencyFailure.GroupMemberFailed));
        var m1 = App(facts, "m1");
        Assert.True(m1.Holds);
        Assert.Contains("recorded crash-consistent: HookTimedOut", m1.Detail);
        Assert.DoesNotContain(AlertRules.Evaluate(facts, None, T0 + 60_000, AlertSettings.Default), o => o.Kind == AlertKind.AppConsistencyFailed && o.Target == "m3");
        Assert.False(facts.AppConsistency.ContainsKey("m3"));
    }

    [Fact]
    public void Rpo_per_disk_is_the_age_of_its_newest_point_and_per_machine_the_worst_disk()
    {
        var facts = Facts(
            new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new DiskRegistered("d2", "m1", 10, "ps", "mt"),
            new DiskRegistered("d3", "m2", 10, "ps", "mt"),
            new RecoveryPointRecorded("d1", "b1", 1, T0 + 10_000, RecoveryPointKind.CrashConsistent),
            new RecoveryPointRecorded("d1", "b0", 1, T0 + 5_000, RecoveryPointKind.CrashConsistent), // older: not the newest
            new RecoveryPointRecorded("d2", "b2", 1, T0 + 4_000, RecoveryPointKind.AppConsistent));
        var report = RpoReport.Of(facts, T0 + 20_000, TimeSpan.FromSeconds(15));

        Assert.Equal(["d1", "d2", "d3"], report.Disks.Select(d => d.DiskId));
        var d1 = report.Disks[0];
        Assert.Equal((10_000L, T0 + 10_000, "b1", false), (d1.RpoMs, d1.NewestPointUnixMs!.Value, d1.NewestPointId, d1.Exceeded));
        Assert.Equal(16_000, report.Disks[1].RpoMs);
        Assert.True(report.Disks[1].Exceeded);
        var d3 = report.Disks[2]; // no point yet: counted from its registration
        Assert.Equal((20_000L, (long?)null), (d3.RpoMs, d3.NewestPointUnixMs));

        var m1 = Assert.Single(report.Machines, m => m.MachineId == "m1");
        Assert.Equal(new MachineRpoEntry("m1", 16_000, T0 + 4_000, 2, "d2", true), m1);
        var m2 = Assert.Single(report.Machines, m => m.MachineId == "m2");
        Assert.Equal(new MachineRpoEntry("m2", 20_000, null, 1, "d3", true), m2);

        Assert.Equal(["d1", "d2"], report.ForMachine("m1").Disks.Select(d => d.DiskId));
        Assert.Equal(["m2"], report.ForDisk("d3").Machines.Select(m => m.MachineId));

        // the report and the RPO alerts agree disk by disk
        var alerts = AlertRules.Evaluate(facts, None, T0 + 20_000, AlertSettings.Default with { DefaultRpoThreshold = TimeSpan.FromSeconds(15) });
        foreach (var d in report.Disks)
            Assert.Equal(d.Exceeded, Assert.Single(alerts, o => o.Kind == AlertKind.DiskRpoExceeded && o.Target == d.DiskId).Holds);
    }
}
