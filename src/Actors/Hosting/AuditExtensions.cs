using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Audit;

namespace SiteRecovery.Actors.Hosting;

public static class AuditExtensions
{
    /// <summary>
    /// Starts the <see cref="ApiAuditLog"/> of node <paramref name="nodeId"/> under a backoff supervisor (actor
    /// <c>api-audit</c>, registered under the log's type): a journal write that fails stops a persistent actor, and the
    /// audit must come back for the next call rather than send every later entry to dead letters.
    /// </summary>
    public static AkkaConfigurationBuilder AddApiAudit(this AkkaConfigurationBuilder b, string nodeId)
    {
        ArgumentNullException.ThrowIfNull(b);
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry) =>
            registry.Register<ApiAuditLog>(system.ActorOf(Akka.Pattern.BackoffSupervisor.Props(Akka.Pattern.Backoff.OnStop(
                Props.Create(() => new ApiAuditLog(nodeId)), "log", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1)), "api-audit")));
    }
}
