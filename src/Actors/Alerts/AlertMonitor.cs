using Akka.Actor;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Alerts;

/// <summary>
/// Singleton event-sourced keeper of the alerts (persistence id <c>alerts</c>): <see cref="Observe"/> raises and clears
/// alerts (answer <see cref="CommandResult"/>), <see cref="GetAlerts"/> answers <see cref="AlertList"/>.
/// </summary>
public sealed class AlertMonitor : AggregateActor<AlertState, IAlertCommand, IAlertEvent>
{
    public const string PersistenceIdValue = "alerts";

    public AlertMonitor(AlertSettings settings)
        : base(PersistenceIdValue, AlertState.Empty, new EntitySettings(settings.SnapshotEvery, null))
    {
        Command<GetAlerts>(q => Sender.Tell(State.ToList(q.ActiveOnly)));
    }

    public static Props Props(AlertSettings settings) => Akka.Actor.Props.Create(() => new AlertMonitor(settings));
}
