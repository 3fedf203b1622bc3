using Akka.Actor;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Control.ProtectionGroup;
using SiteRecovery.Actors.Control.RecoveryPlan;
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

/// <summary>ActorRegistry key of the RecoveryPlan region: <c>registry.Get&lt;RecoveryPlansRegion&gt;()</c>.</summary>
public sealed class RecoveryPlansRegion
{
    private RecoveryPlansRegion() { }

    public static Props Props(EntitySettings settings, IActorRef? directory) =>
        EntityRegion.Props(typeof(IRecoveryPlanMessage), id => RecoveryPlanActor.Props(id, settings, directory));
}

/// <summary>ActorRegistry key of the singleton recovery-plan directory: <c>registry.Get&lt;RecoveryPlanDirectory&gt;()</c>; ask it <see cref="ListRecoveryPlans"/>.</summary>
public sealed class RecoveryPlanDirectory
{
    private RecoveryPlanDirectory() { }

    public static Props Props(EntitySettings settings) => RecoveryPlanDirectoryActor.Props(settings);
}
