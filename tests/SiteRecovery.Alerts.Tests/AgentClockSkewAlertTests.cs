using SiteRecovery.Actors.Alerts;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>The AgentClockSkew alert follows the master target's reports (<see cref="AgentClockSkewObserved"/>): raised, then cleared, as alert events.</summary>
public sealed class AgentClockSkewAlertTests
{
    private const long T0 = 1_700_000_000_000;
    private static readonly long Day = 86_400_000, Bound = 300_000;

    private static Observation Skew(AlertFacts facts) =>
        Assert.Single(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.AgentClockSkew);

    [Fact]
    public void A_skew_beyond_the_bound_raises_the_alert_and_a_report_within_it_clears_it()
    {
        var facts = AlertFacts.Empty.Apply(new DiskRegistered("d1", "m1", 10, "ps", "mt"), T0);
        Assert.DoesNotContain(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.AgentClockSkew);

        facts = facts.Apply(new AgentClockSkewObserved("d1", -Day, Bound, true, T0), T0);
        var raised = Skew(facts);
        Assert.True(raised.Holds);
        Assert.Equal("d1", raised.Target);
        Assert.Contains("agent clock 1.00:00:00 behind the master target's (beyond the 00:05:00 bound", raised.Detail);

        var state = AlertState.Empty;
        var decision = state.Decide(new Observe([raised], T0));
        var up = Assert.IsType<AlertRaised>(Assert.Single(decision.Events));
        state = state.Apply(up);
        Assert.True(state.IsActive(AlertKind.AgentClockSkew, "d1"));

        // An older report arriving late changes nothing; the newer one within the bound clears it.
        facts = facts.Apply(new AgentClockSkewObserved("d1", 1000, Bound, false, T0 + 60_000), T0)
                     .Apply(new AgentClockSkewObserved("d1", Day, Bound, true, T0 + 1), T0);
        var cleared = Skew(facts);
        Assert.False(cleared.Holds);
        Assert.Contains("agent clock 00:00:01 ahead of the master target's (within", cleared.Detail);
        var down = Assert.IsType<AlertCleared>(Assert.Single(state.Decide(new Observe([cleared], T0 + 60_000)).Events));
        state = state.Apply(down);
        Assert.False(state.IsActive(AlertKind.AgentClockSkew, "d1"));
    }

    [Fact]
    public void A_report_for_an_unregistered_disk_raises_nothing()
    {
        var facts = AlertFacts.Empty.Apply(new AgentClockSkewObserved("ghost", Day, Bound, true, T0), T0);
        Assert.DoesNotContain(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.AgentClockSkew);
    }
}
