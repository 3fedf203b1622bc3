using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Registration;

/// <summary>Outcome of a pure registration-area <c>Decide</c>: events to persist (none = no-op) or a refusal.</summary>
public sealed record RegistrationDecision<TEvent>
{
    private RegistrationDecision(IReadOnlyList<TEvent> events, RegistrationReply.Refused? refusal)
    {
        Events = events;
        Refusal = refusal;
    }

    public IReadOnlyList<TEvent> Events { get; }
    public RegistrationReply.Refused? Refusal { get; }
    public bool IsRefused => Refusal is not null;

    public static RegistrationDecision<TEvent> Accept(params TEvent[] events) => new(events, null);
    public static RegistrationDecision<TEvent> NoOp { get; } = new(Array.Empty<TEvent>(), null);

    public static RegistrationDecision<TEvent> Refuse(RegistrationRefusal reason, string message) =>
        new(Array.Empty<TEvent>(), new RegistrationReply.Refused(reason, message));

    public static RegistrationDecision<TEvent> Refuse(RegistrationReply.Refused refusal) => new(Array.Empty<TEvent>(), refusal);
}

/// <summary>
/// Immutable state with pure decide/apply (same shape as <see cref="IAggregateState{TSelf,TCommand,TEvent}"/>) plus a pure
/// <see cref="Reply"/>: registration commands answer with data (a key, a passphrase, a challenge), not only an event count.
/// </summary>
public interface IRegistrationState<TSelf, TCommand, TEvent>
    where TSelf : IRegistrationState<TSelf, TCommand, TEvent>
{
    RegistrationDecision<TEvent> Decide(TCommand command);
    TSelf Apply(TEvent @event);

    /// <summary>Reply to an accepted <paramref name="command"/>, computed on the state after its events were applied.</summary>
    RegistrationReply Reply(TCommand command, int eventCount);
}

/// <summary>A prepared command (randomness and remote answers filled in by the actor) to decide on behalf of <see cref="ReplyTo"/>.</summary>
internal sealed record Prepared<TCommand>(TCommand Command, IActorRef ReplyTo);

/// <summary>
/// Thin event-sourced shell like <see cref="AggregateActor{TState,TCommand,TEvent}"/>: decide, PersistAll, apply, reply,
/// snapshot every N events, passivate when idle. Derived actors turn public messages that need randomness or a remote
/// answer into prepared commands (the pure state never calls RandomNumberGenerator or a clock).
/// </summary>
public abstract class RegistrationAggregateActor<TState, TCommand, TEvent> : ReceivePersistentActor
    where TState : class, IRegistrationState<TState, TCommand, TEvent>
    where TCommand : class
    where TEvent : class
{
    private readonly EntitySettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    protected RegistrationAggregateActor(string persistenceId, TState initial, EntitySettings settings)
    {
        if (settings.SnapshotEvery <= 0)
            throw new ArgumentOutOfRangeException(nameof(settings), "EntitySettings.SnapshotEvery must be > 0");
        PersistenceId = persistenceId;
        State = initial;
        _settings = settings;

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is TState snapshot) State = snapshot;
        });
        Recover<TEvent>(e => State = State.Apply(e));

        Command<TCommand>(c => Execute(c, Sender));
        Command<Prepared<TCommand>>(p => Execute(p.Command, p.ReplyTo));
        Command<SaveSnapshotSuccess>(s =>
        {
            if (s.Metadata.SequenceNr > 1)
                DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Snapshot of {0} at {1} failed", PersistenceId, f.Metadata.SequenceNr));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "Deleting old snapshots of {0} failed", PersistenceId));
        Command<ReceiveTimeout>(_ => Context.Parent.Tell(new Passivate(StopEntity.Instance)));
        Command<StopEntity>(_ => Context.Stop(Self));
    }

    public override string PersistenceId { get; }

    protected TState State { get; private set; }

    protected override void PreStart()
    {
        base.PreStart();
        if (_settings.PassivateAfter is { } idle) SetReceiveTimeout(idle);
    }

    /// <summary>Decides <paramref name="command"/> now (on the current state) on behalf of <paramref name="replyTo"/>, via the mailbox.</summary>
    protected void ExecuteLater(TCommand command, IActorRef replyTo) => Self.Tell(new Prepared<TCommand>(command, replyTo));

    /// <summary>Called after the events of an accepted command were persisted and applied.</summary>
    protected virtual void OnPersisted(IReadOnlyList<TEvent> events) { }

    private void Execute(TCommand command, IActorRef replyTo)
    {
        var decision = State.Decide(command);
        if (decision.Refusal is { } refused)
        {
            replyTo.Tell(refused);
            return;
        }

        var events = decision.Events;
        if (events.Count == 0)
        {
            replyTo.Tell(State.Reply(command, 0));
            return;
        }

        var remaining = events.Count;
        PersistAll(events, e =>
        {
            State = State.Apply(e);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(State);
            if (--remaining != 0) return;
            replyTo.Tell(State.Reply(command, events.Count));
            OnPersisted(events);
        });
    }
}
