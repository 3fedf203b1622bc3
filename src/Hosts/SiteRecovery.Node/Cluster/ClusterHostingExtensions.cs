using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;

namespace SiteRecovery.Node.Cluster;

public static class ClusterHostingExtensions
{
    /// <summary>
    /// Remoting on <see cref="ClusterSettings.Listen"/> and Akka.Cluster with the node's roles (<see cref="ClusterRoles"/>);
    /// the timings and the split-brain resolver are in <c>hocon/cluster.hocon</c>. Without seeds the node joins itself
    /// once remoting is bound, so a port-0 listener joins the port it got: every start is a fresh one-node cluster.
    /// When the cluster ends this node's membership (a leave or a down) the host stops: the data path first, while
    /// the actor system still runs, then the actor system (see <see cref="ClusterExit"/>).
    /// </summary>
    public static AkkaConfigurationBuilder AddSiteRecoveryCluster(this AkkaConfigurationBuilder b, ClusterSettings settings, NodeRoles roles,
        Func<IHostApplicationLifetime> lifetime, ClusterExit exit, Func<ILogger> log)
    {
        b.WithRemoting(new RemoteOptions { HostName = settings.Listen.Host, PublicHostName = settings.Listen.Host, Port = settings.Listen.Port });
        b.WithClustering(new ClusterOptions
        {
            Roles = ClusterRoles.Of(roles).ToArray(),
            SeedNodes = settings.Seeds.Select(s => s.Address(ClusterSettings.SystemName).ToString()).ToArray(),
        });
        return b.AddStartup((system, _) =>
        {
            var cluster = Akka.Cluster.Cluster.Get(system);
            if (settings.JoinsItself) cluster.Join(cluster.SelfAddress);
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "siterecovery-cluster-exit", async () =>
            {
                var why = CoordinatedShutdown.Get(system).ShutdownReason switch
                {
                    CoordinatedShutdown.ClusterLeavingReason => ClusterExit.Reason.Left,
                    CoordinatedShutdown.ClusterDowningReason => ClusterExit.Reason.Downed,
                    _ => (ClusterExit.Reason?)null,
                };
                if (why is not { } ended) return Akka.Done.Instance;
                exit.End(ended);
                log().LogWarning("{Message}", ended == ClusterExit.Reason.Left
                    ? $"this node ({cluster.SelfAddress}) left the cluster: its data path stops and the process exits"
                    : $"this node ({cluster.SelfAddress}) was downed by the cluster: its data path stops and the process exits with {ClusterExit.DownedExitCode}");
                lifetime().StopApplication();
                await exit.DataPathStopped;
                return Akka.Done.Instance;
            });
        });
    }
}
