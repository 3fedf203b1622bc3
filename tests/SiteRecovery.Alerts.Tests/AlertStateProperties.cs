using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>FsCheck properties straight on AlertState's pure Decide/Apply.</summary>
public sealed class AlertStateProperties
{
    private static readonly AlertKind[] Kinds = Enum.GetValues<AlertKind>();

    private static readonly Gen<Observation> ObservationGen =
        from kind in Gen.Elements(Kinds)
        from target in Gen.Elements("a", "b", "c")
        from holds in Gen.Elements(true, false)
        from detail in Gen.Elements("x", "y", "")
        select new Observation(kind, target, holds, detail);

    /// <summary>Mostly valid observations (distinct keys); sometimes a duplicate key, a blank target or a negative time.</summary>
    private static readonly Gen<Observe> ObserveGen = Gen.Frequency(
        (12, from list in Gen.ListOf(ObservationGen)
             from dt in Gen.Choose(0, 1000)
             select new Observe(list.DistinctBy(o => o.Key).ToList(), dt)),
        (1, from o in ObservationGen
            select new Observe([o, o with { Holds = !o.Holds }], 5)),
        (1, Gen.Constant(new Observe([new Observation(AlertKind.CacheHighWater, " ", true, "d")], 5))),
        (1, Gen.Constant(new Observe([], -1))));

    private static string Fingerprint(AlertState s) => JsonSerializer.Serialize(s, ControlJsonSerializer.Options);

    [Property(MaxTest = 400)]
    public Property Alerts_are_raised_and_cleared_only_on_condition_changes() =>
        Prop.ForAll(Gen.ArrayOf(ObserveGen).ToArbitrary(), commands =>
        {
            var state = AlertState.Empty;
            var emitted = new List<IAlertEvent>();
            var clock = 0L;
            foreach (var raw in commands)
            {
                // time moves forward across commands (negative times stay negative to exercise the rejection)
                var command = raw.NowUnixMs < 0 ? raw : raw with { NowUnixMs = clock += raw.NowUnixMs };
                var decision = state.Decide(command);
                var keys = command.Observations.Select(o => o.Key).ToList();
                if (decision.Rejection is { } rejected)
                {
                    Assert.Empty(decision.Events);
                    Assert.False(string.IsNullOrWhiteSpace(rejected.Message));
                    Assert.True(keys.Distinct().Count() != keys.Count || command.NowUnixMs < 0 || command.Observations.Any(o => string.IsNullOrWhiteSpace(o.Target)),
                        $"valid observations rejected: {rejected.Message}");
                    continue;
                }

                var byKey = command.Observations.ToDictionary(o => o.Key);
                Assert.Equal(decision.Events.Count, decision.Events.Select(e => new AlertKey(e.Kind, e.Target)).Distinct().Count());
                foreach (var e in decision.Events)
                {
                    var key = new AlertKey(e.Kind, e.Target);
                    Assert.True(byKey.TryGetValue(key, out var o), $"event for unobserved {key}");
                    var wasActive = state.IsActive(e.Kind, e.Target);
                    switch (e)
                    {
                        case AlertRaised r:
                            Assert.True(o!.Holds, $"raised {key} whose condition does not hold");
                            Assert.False(wasActive, $"raised {key} while already active");
                            Assert.Equal(o.Detail, r.Detail);
                            Assert.Equal(command.NowUnixMs, r.AtUnixMs);
                            break;
                        case AlertCleared c:
                            Assert.False(o!.Holds, $"cleared {key} whose condition holds");
                            Assert.True(wasActive, $"cleared {key} that was never raised");
                            Assert.Equal(command.NowUnixMs, c.AtUnixMs);
                            break;
                    }
                }

                // every changed condition produced exactly one event
                var changed = command.Observations.Count(o => o.Holds != state.IsActive(o.Kind, o.Target));
                Assert.Equal(changed, decision.Events.Count);

                var next = decision.Events.Aggregate(state, (s, e) => s.Apply(e));
                foreach (var o in command.Observations) Assert.Equal(o.Holds, next.IsActive(o.Kind, o.Target));
                foreach (var a in state.Active.Values.Where(a => !byKey.ContainsKey(new AlertKey(a.Kind, a.Target))))
                    Assert.True(next.IsActive(a.Kind, a.Target), "an unobserved alert changed");
                Assert.Equal(next.Active.Count, next.Active.Values.Select(a => new AlertKey(a.Kind, a.Target)).Distinct().Count());
                Assert.All(next.Active, kv => Assert.Equal(AlertState.KeyOf(kv.Value.Kind, kv.Value.Target), kv.Key));
                Assert.All(next.Active.Values, a => Assert.Null(a.ClearedAtUnixMs));
                Assert.All(next.History, a => Assert.True(a.ClearedAtUnixMs >= a.RaisedAtUnixMs));
                Assert.InRange(next.History.Count, 0, AlertState.HistoryLimit);

                // observing the same facts again emits nothing
                var again = next.Decide(command);
                Assert.False(again.IsRejected);
                Assert.Empty(again.Events);

                emitted.AddRange(decision.Events);
                state = next;
            }

            var replayed = emitted.Aggregate(AlertState.Empty, (s, e) => s.Apply(e));
            Assert.Equal(Fingerprint(state), Fingerprint(replayed));
        });

    [Fact]
    public void Cleared_history_is_bounded_and_keeps_the_newest()
    {
        var state = AlertState.Empty;
        for (var i = 0; i < AlertState.HistoryLimit + 20; i++)
        {
            state = state.Apply(new AlertRaised(AlertKind.DiskRpoExceeded, "d", $"#{i}", i * 10));
            state = state.Apply(new AlertCleared(AlertKind.DiskRpoExceeded, "d", i * 10 + 5));
        }

        Assert.Equal(AlertState.HistoryLimit, state.History.Count);
        Assert.Equal("#20", state.History[0].Detail);
        var list = state.ToList(activeOnly: false).Alerts;
        Assert.Equal($"#{AlertState.HistoryLimit + 19}", list[0].Detail);
        Assert.Empty(state.ToList(activeOnly: true).Alerts);
    }

    [Fact]
    public void Active_alerts_come_first_with_detail_and_raised_time()
    {
        var state = AlertState.Empty;
        var d = state.Decide(new Observe(
        [
            new Observation(AlertKind.CacheHighWater, "ps1", true, "cache 85 %"),
            new Observation(AlertKind.MasterTargetOutOfSlots, "mt1", false, "3 of 15"),
        ], 1_000));
        state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
        Assert.Equal(new AlertRaised(AlertKind.CacheHighWater, "ps1", "cache 85 %", 1_000), Assert.Single(d.Events));
        d = state.Decide(new Observe([new Observation(AlertKind.CacheHighWater, "ps1", false, "cache 60 %")], 2_000));
        Assert.Equal(new AlertCleared(AlertKind.CacheHighWater, "ps1", 2_000), Assert.Single(d.Events));
        state = d.Events.Aggregate(state, (s, e) => s.Apply(e));
        state = state.Apply(new AlertRaised(AlertKind.DiskRpoExceeded, "d1", "RPO", 3_000));

        var all = state.ToList(activeOnly: false).Alerts;
        Assert.Equal(2, all.Count);
        Assert.True(all[0].Active);
        Assert.Equal(new AlertView(AlertKind.CacheHighWater, "ps1", "cache 85 %", 1_000, 2_000), all[1]);
        Assert.Equal("d1", Assert.Single(state.ToList(activeOnly: true).Alerts).Target);
    }

    [Fact]
    public void Invalid_observations_are_rejected_naming_the_field()
    {
        var dup = AlertState.Empty.Decide(new Observe(
            [new Observation(AlertKind.CacheHighWater, "p", true, ""), new Observation(AlertKind.CacheHighWater, "p", false, "")], 1));
        Assert.Equal(RejectionReason.InvalidArgument, dup.Rejection?.Reason);
        Assert.Contains("Observations[1]", dup.Rejection!.Message);
        var kind = AlertState.Empty.Decide(new Observe([new Observation((AlertKind)42, "p", true, "")], 1));
        Assert.Contains("Kind", kind.Rejection!.Message);
        var now = AlertState.Empty.Decide(new Observe([], -5));
        Assert.Contains("NowUnixMs", now.Rejection!.Message);
    }
}
