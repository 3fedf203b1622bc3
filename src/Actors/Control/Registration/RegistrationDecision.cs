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
/// Runs on <see cref="AggregateActor{TState,TCommand,TEvent}"/> like every other entity.
/// </summary>
public interface IRegistrationState<TSelf, TCommand, TEvent> : IEventSourcedState<TSelf, TCommand, TEvent>
    where TSelf : IRegistrationState<TSelf, TCommand, TEvent>
{
    RegistrationDecision<TEvent> Decide(TCommand command);

    /// <summary>Reply to an accepted <paramref name="command"/>, computed on the state after its events were applied.</summary>
    RegistrationReply Reply(TCommand command, int eventCount);

    (IReadOnlyList<TEvent> Events, object? Refusal) IEventSourcedState<TSelf, TCommand, TEvent>.Judge(TCommand command)
    {
        var decision = Decide(command);
        return (decision.Events, decision.Refusal);
    }

    object IEventSourcedState<TSelf, TCommand, TEvent>.Answer(TCommand command, int eventCount) => Reply(command, eventCount);
}
