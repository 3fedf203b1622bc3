using SiteRecovery.Actors.Alerts;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// The DiskWriterRefused alert follows the process server's writer refusals (<see cref="WriterRefusedObserved"/>): raised
/// at a refusal, cleared only when an operator releases or keeps the binding (<see cref="WriterRefusalResolved"/>).
/// </summary>
public sealed class WriterRefusedAlertTests
{
    private const long T0 = 1_700_000_000_000;
    private static readonly string Bound = new('a', 64), Offered = new('b', 64);

    private static Observation Refused(AlertFacts facts) =>
        Assert.Single(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.DiskWriterRefused);

    private static WriterRefusedObserved Refusal(long at) =>
        new("d1", WriterRefusal.DifferentWriter, Bound, Offered, $"disk d1 is bound to writer {Bound[..16]}; writer {Offered[..16]} is refused", at);

    [Fact]
    public void A_refusal_raises_the_alert_naming_both_writers_and_only_an_operator_clears_it()
    {
        var facts = AlertFacts.Empty.Apply(new DiskRegistered("d1", "m1", 10, "ps", "mt"), T0);
        Assert.DoesNotContain(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.DiskWriterRefused);

        facts = facts.Apply(Refusal(T0), T0);
        var raised = Refused(facts);
        Assert.True(raised.Holds);
        Assert.Equal("d1", raised.Target);
        Assert.Contains(Bound[..16], raised.Detail);
        Assert.Contains(Offered[..16], raised.Detail);
        Assert.Contains("srctl writer release d1", raised.Detail);

        var state = AlertState.Empty;
        state = state.Apply(Assert.IsType<AlertRaised>(Assert.Single(state.Decide(new Observe([raised], T0)).Events)));

        // A resolution older than the refusal (the operator acted before it came) does not clear it; a later one does.
        facts = facts.Apply(new WriterRefusalResolved("d1", Released: false, T0 - 1), T0);
        Assert.True(Refused(facts).Holds);
        facts = facts.Apply(new WriterRefusalResolved("d1", Released: false, T0 + 5), T0);
        var cleared = Refused(facts);
        Assert.False(cleared.Holds);
        Assert.IsType<AlertCleared>(Assert.Single(state.Decide(new Observe([cleared], T0 + 10)).Events));

        // A refusal after that raises it again.
        Assert.True(Refused(facts.Apply(Refusal(T0 + 10), T0)).Holds);
    }

    [Fact]
    public void A_refusal_for_an_unregistered_disk_raises_nothing()
    {
        var facts = AlertFacts.Empty.Apply(Refusal(T0), T0);
        Assert.DoesNotContain(AlertRules.Evaluate(facts, new HashSet<AlertKey>(), T0, AlertSettings.Default), o => o.Kind == AlertKind.DiskWriterRefused);
    }
}
