using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>Sent by an entity to its parent region to ask to be stopped (same shape as Akka.Cluster.Sharding's Passivate).</summary>
public sealed record Passivate(object StopMessage);

/// <summary>Stop message delivered by the region after <see cref="Passivate"/>; goes through the persistent actor's stash.</summary>
public sealed class StopEntity
{
    public static StopEntity Instance { get; } = new();
    private StopEntity() { }
}

/// <summary>A command prepared by the actor (randomness or a remote answer filled in) to decide on behalf of <see cref="ReplyTo"/>.</summary>
internal sealed record Prepared<TCommand>(TCommand Command, IActorRef ReplyTo);

/// <summary>
/// Thin event-sourced shell around an immutable state: decide, PersistAll, apply, reply, snapshot every N events,
/// passivate when idle. Every persistent entity and directory under Control runs on it.
/// <para>
/// Derived actors turn public messages that need randomness, a clock or another actor's answer into prepared commands
/// (<see cref="ExecuteLater"/>), so the pure state never calls RandomNumberGenerator or asks anyone.
/// </para>
/// <para>
/// Replies: a refusal or the state's <see cref="IEventSourcedState{TSelf,TCommand,TEvent}.Answer"/> goes to whoever
/// sent the command. A told command (no sender) gets nothing; its refusal is logged instead.
/// </para>
/// </summary>
public abstract class AggregateActor<TState, TCommand, TEvent> : ReceivePersistentActor
    where TState : class, IEventSourcedState<TState, TCommand, TEvent>
    where TCommand : class
    where TEvent : class
{
    private readonly EntitySettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    protected AggregateActor(string persistenceId, TState initial, EntitySettings settings)
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

    /// <summary>Decides <paramref name="command"/> when it comes out of the mailbox (on the state then) on behalf of <paramref name="replyTo"/>.</summary>
    protected void ExecuteLater(TCommand command, IActorRef replyTo) => Self.Tell(new Prepared<TCommand>(command, replyTo));

    /// <summary>Called once the events of an accepted command were persisted and applied, after the reply.</summary>
    protected virtual void OnPersisted(IReadOnlyList<TEvent> events) { }

    private void Execute(TCommand command, IActorRef replyTo)
    {
        // A told command (the data path reports points and progress without asking; an entity tells its directory) has
        // no one to hear the answer. Sent anyway it would only be a dead letter, and those are muted after the first few.
        var told = replyTo.IsNobody() || replyTo.Equals(Context.System.DeadLetters);
        var (events, refusal) = State.Judge(command);
        if (refusal is not null)
        {
            if (told) _log.Warning("{0} refused {1}: {2}", PersistenceId, command.GetType().Name, refusal);
            else replyTo.Tell(refusal);
            return;
        }

        if (events.Count == 0)
        {
            if (!told) replyTo.Tell(State.Answer(command, 0));
            return;
        }

        var remaining = events.Count;
        PersistAll(events, e =>
        {
            State = State.Apply(e);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(State);
            if (--remaining != 0) return;
            if (!told) replyTo.Tell(State.Answer(command, events.Count));
            OnPersisted(events);
        });
    }
}
