using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.ReadModels;

namespace SiteRecovery.Actors.Hosting;

public static class ReadModelsExtensions
{
    /// <summary>
    /// Starts the <see cref="JobsProjection"/> (actor <c>jobs</c>), registered in the ActorRegistry under
    /// <see cref="JobsProjection"/>. Ask it <see cref="JobsProjection.GetJobs"/> for the jobs list. Needs the
    /// Akka.Persistence.Sql journal (<see cref="SiteRecoveryAkkaExtensions.AddSiteRecoveryPersistence"/>), which it follows
    /// from the first event; it binds the control-plane serializer, since it decodes every event it reads.
    /// </summary>
    public static AkkaConfigurationBuilder AddJobsProjection(this AkkaConfigurationBuilder b)
    {
        ArgumentNullException.ThrowIfNull(b);
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry) =>
            registry.Register<JobsProjection>(system.ActorOf(Props.Create<JobsProjection>(), "jobs")));
    }
}
