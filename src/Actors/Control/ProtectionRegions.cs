using Akka.Actor;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Control.ProtectionGroup;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>ActorRegistry key of the ProtectionGroup region: <c>registry.Get&lt;ProtectionGroupsRegion&gt;()</c>.</summary>
public sealed class ProtectionGroupsRegion
{
    private ProtectionGroupsRegion() { }

    public static Props Props(EntitySettings settings) =>
        EntityRegion.Props(typeof(IProtectionGroupMessage), id => ProtectionGroupActor.Props(id, settings));
}

/// <summary>ActorRegistry key of the ProtectedMachine region: <c>registry.Get&lt;ProtectedMachinesRegion&gt;()</c>.</summary>
public sealed class ProtectedMachinesRegion
{
    private ProtectedMachinesRegion() { }

    public static Props Props(EntitySettings settings) =>
        EntityRegion.Props(typeof(IProtectedMachineMessage), id => ProtectedMachineActor.Props(id, settings));
}
