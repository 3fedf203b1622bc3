using Akka.Hosting;
using SiteRecovery.Actors.Alerts;

namespace SiteRecovery.Actors.Hosting;

public static class AlertingExtensions
{
    /// <summary>
    /// Starts the <see cref="AlertMonitor"/> (singleton, persistence id <c>alerts</c>) and the <see cref="AlertEvaluator"/>,
    /// registered in the ActorRegistry under <see cref="AlertMonitor"/> and <see cref="AlertEvaluator"/>. Ask the monitor
    /// <see cref="SiteRecovery.Contracts.Control.GetAlerts"/> for the alerts. Needs the Akka.Persistence.Sql journal
    /// (<see cref="SiteRecoveryAkkaExtensions.AddSiteRecoveryPersistence"/>), which the evaluator follows.
    /// </summary>
    public static AkkaConfigurationBuilder AddAlerting(this AkkaConfigurationBuilder b, AlertSettings? s = null)
    {
        ArgumentNullException.ThrowIfNull(b);
        var settings = (s ?? AlertSettings.Default).Validate();
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, registry) =>
        {
            var monitor = system.ActorOf(AlertMonitor.Props(settings), "alerts");
            registry.Register<AlertMonitor>(monitor);
            registry.Register<AlertEvaluator>(system.ActorOf(AlertEvaluator.Props(monitor, settings), "alert-evaluator"));
        });
    }
}
