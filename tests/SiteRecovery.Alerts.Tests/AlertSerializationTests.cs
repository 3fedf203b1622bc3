using Akka.Actor;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

public sealed class AlertSerializationTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("alert-serialization");
    private ControlJsonSerializer Serializer => new((ExtendedActorSystem)_system);

    private object RoundTrip(object o) => Serializer.FromBinary(Serializer.ToBinary(o), Serializer.Manifest(o));

    [Fact]
    public void Every_alert_event_has_an_alert_manifest_round_trips_and_is_tagged()
    {
        object[] samples =
        [
            new AlertRaised(AlertKind.MachineRpoExceeded, "m1", "1 of 2 disks over", 1_700_000_000_000),
            new AlertCleared(AlertKind.CacheHighWater, "ps1", 1_700_000_000_001),
        ];
        var alertTypes = ControlManifestRegistry.EventTypes.Where(t => typeof(IAlertEvent).IsAssignableFrom(t)).ToHashSet();
        Assert.Equal(alertTypes, samples.Select(s => s.GetType()).ToHashSet());
        foreach (var e in samples)
        {
            Assert.Matches("^alert-.+\\.v1$", Serializer.Manifest(e));
            Assert.Equal(e, RoundTrip(e));
            Assert.Contains(AlertTags.Alert, ControlTags.For(e));
        }
    }

    [Fact]
    public void Alert_state_snapshot_round_trips()
    {
        var state = AlertState.Empty
            .Apply(new AlertRaised(AlertKind.DiskRpoExceeded, "d1", "RPO 1000 s", 10))
            .Apply(new AlertRaised(AlertKind.MasterTargetOutOfSlots, "mt1", "15 of 15", 11))
            .Apply(new AlertCleared(AlertKind.DiskRpoExceeded, "d1", 20));
        Assert.Equal("alert-state.v1", Serializer.Manifest(state));
        var back = Assert.IsType<AlertState>(RoundTrip(state));
        Assert.Equal(state.Active, back.Active);
        Assert.Equal(state.History, back.History);
        Assert.Equal(state.ToList(false), back.ToList(false), new ListComparer());
    }

    private sealed class ListComparer : IEqualityComparer<AlertList>
    {
        public bool Equals(AlertList? x, AlertList? y) => x!.Alerts.SequenceEqual(y!.Alerts);
        public int GetHashCode(AlertList obj) => obj.Alerts.Count;
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
