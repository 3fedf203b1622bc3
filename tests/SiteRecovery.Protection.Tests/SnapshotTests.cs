using Akka.Actor;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Control.ProtectionGroup;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;

namespace SiteRecovery.Protection.Tests;

public sealed class SnapshotTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("protection-snapshots");

    private object RoundTrip(object o)
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        return serializer.FromBinary(serializer.ToBinary(o), serializer.Manifest(o));
    }

    [Fact]
    public void Protection_states_round_trip_through_the_control_serializer()
    {
        var machine = ProtectedMachineState.Empty("m1")
            .Apply(new MachineDiscovered("m1", Valid(3)))
            .Apply(new ProtectionEnablingStarted("m1", new("mt1", "ps1")));
        var back = (ProtectedMachineState)RoundTrip(machine);
        Assert.Equal(machine, back);
        Assert.Equal("protected-machine-state.v1", ControlManifestRegistry.ManifestFor(typeof(ProtectedMachineState)));

        var group = ProtectionGroupState.Empty("g1")
            .Apply(new ProtectionGroupCreated("g1", "v", ProtectionGroupProperties.Good))
            .Apply(new MachineAddedToGroup("g1", "m1"));
        var groupBack = (ProtectionGroupState)RoundTrip(group);
        Assert.Equal(group.Machines, groupBack.Machines);
        Assert.Equal(group.Settings, groupBack.Settings);
        Assert.Equal(group.Vault, groupBack.Vault);
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
