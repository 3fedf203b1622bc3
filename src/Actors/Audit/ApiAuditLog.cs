using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Audit;

/// <summary>
/// Journals each <see cref="ApiCallAudited"/> it is told, so the audit is kept with every other decision of the site and
/// reaches the live event stream like them. It holds no state: a restart replays nothing (<see cref="Recovery.None"/>
/// still finds the highest sequence number) and a new entry never waits for the ones before it to be read back.
/// </summary>
public sealed class ApiAuditLog : ReceivePersistentActor
{
    readonly ILoggingAdapter _log = Context.GetLogger();

    public ApiAuditLog(string nodeId)
    {
        PersistenceId = $"api-audit-{nodeId}";
        Command<ApiCallAudited>(e => PersistAsync(e, _ => { }));
    }

    public override string PersistenceId { get; }

    public override Recovery Recovery => Recovery.None;

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // The call itself has been answered; a lost entry is logged with what it was, so the audit has no silent gap.
        _log.Error(cause, "audit entry not journaled: {0}", @event);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}
