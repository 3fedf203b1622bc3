using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;

namespace SiteRecovery.Actors.Hosting;

public static class FailoverActorsExtensions
{
    /// <summary>
    /// Starts the failover directory (actor <c>failover-directory</c>) and the failover jobs' region (<c>failover-jobs</c>),
    /// registered in the ActorRegistry under <see cref="FailoverDirectoryKey"/> and <see cref="FailoverJobsRegion"/>, once
    /// the host has started: the directory wakes every open job at its start, so a saga whose node was killed resumes or
    /// rolls back, and those steps go through <paramref name="effects"/> (the data path), which is up only then.
    /// <paramref name="effects"/> is called then too, before either actor exists.
    /// </summary>
    public static AkkaConfigurationBuilder AddFailoverActors(this AkkaConfigurationBuilder b, Func<IFailoverEffects> effects, EntitySettings? s = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(effects);
        var entity = s ?? EntitySettings.Default;
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry, resolver) => HostStart.AfterHostStarted(resolver, "the failover actors", () =>
        {
            var paths = effects();
            IActorRef? region = null;
            // The directory hands wakes to the region, which needs the directory: the directory reads it late, through a closure.
            var directory = system.ActorOf(FailoverDirectoryActor.Props(entity, () => region), "failover-directory");
            region = system.ActorOf(FailoverJobsRegion.Props(paths, entity, directory), "failover-jobs");
            registry.Register<FailoverDirectoryKey>(directory);
            registry.Register<FailoverJobsRegion>(region);
        }));
    }
}
