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

/// <summary>
/// Thin event-sourced shell around an immutable state: decide, PersistAll, apply, reply, snapshot every N events.
/// </summary>
public abstract class AggregateActor<TState, TCommand, TEvent> : ReceivePersistentActor
    where TState : class, IAggregateState<TState, TCommand, TEvent>
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

        Command<TCommand>(HandleCommand);
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

    private void HandleCommand(TCommand command)
    {
        var decision = State.Decide(command);
        if (decision.Rejection is { } rejected)
        {
            // A told command (the data path reports points and progress without asking) has no one to hear its
            // refusal; unlogged it would only be a dead letter, and those are muted after the first few.
            if (Sender.IsNobody() || Sender.Equals(Context.System.DeadLetters))
                _log.Warning("{0} refused {1}: {2} ({3})", PersistenceId, command.GetType().Name, rejected.Message, rejected.Reason);
            else
                Sender.Tell(rejected);
            return;
        }

        var events = decision.Events;
        if (events.Count == 0)
        {
            Sender.Tell(new CommandResult.Accepted(0));
            return;
        }

        var replyTo = Sender;
        var remaining = events.Count;
        PersistAll(events, e =>
        {
            State = State.Apply(e);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(State);
            if (--remaining == 0) replyTo.Tell(new CommandResult.Accepted(events.Count));
        });
    }
}
