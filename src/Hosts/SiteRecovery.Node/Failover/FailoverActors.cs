using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// Starts the failover directory and the failover jobs' region once the node runs (their effects need the data path).
/// The directory wakes every open job after a restart, so a saga whose node was killed resumes or rolls back.
/// </summary>
public static class FailoverActors
{
    public static void Start(IServiceProvider services)
    {
        var system = services.GetRequiredService<ActorSystem>();
        var registry = services.GetRequiredService<ActorRegistry>();
        var effects = services.GetRequiredService<NodeFailoverEffects>();
        IActorRef? region = null;
        var directory = system.ActorOf(FailoverDirectoryActor.Props(EntitySettings.Default, () => region), "failover-directory");
        region = system.ActorOf(FailoverJobsRegion.Props(effects, EntitySettings.Default, directory), "failover-jobs");
        registry.Register<FailoverDirectoryKey>(directory);
        registry.Register<FailoverJobsRegion>(region);
    }
}
