using Akka.Actor;
using SiteRecovery.Actors.Control.MasterTarget;
using SiteRecovery.Actors.Control.ProcessServer;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>ActorRegistry key of the ProtectedDisk region: <c>registry.Get&lt;ProtectedDisksRegion&gt;()</c>.</summary>
public sealed class ProtectedDisksRegion
{
    private ProtectedDisksRegion() { }

    public static Props Props(EntitySettings settings) =>
        EntityRegion.Props(typeof(IProtectedDiskMessage), id => ProtectedDiskActor.Props(id, settings));
}

/// <summary>ActorRegistry key of the ProcessServer region: <c>registry.Get&lt;ProcessServersRegion&gt;()</c>.</summary>
public sealed class ProcessServersRegion
{
    private ProcessServersRegion() { }

    public static Props Props(EntitySettings settings) =>
        EntityRegion.Props(typeof(IProcessServerMessage), id => ProcessServerActor.Props(id, settings));
}

/// <summary>ActorRegistry key of the MasterTarget region: <c>registry.Get&lt;MasterTargetsRegion&gt;()</c>.</summary>
public sealed class MasterTargetsRegion
{
    private MasterTargetsRegion() { }

    public static Props Props(EntitySettings settings) =>
        EntityRegion.Props(typeof(IMasterTargetMessage), id => MasterTargetActor.Props(id, settings));
}
