using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>Outcome of a pure <c>Decide</c>: either events to persist (possibly none = idempotent) or a rejection.</summary>
public sealed record Decision<TEvent>
{
    private Decision(IReadOnlyList<TEvent> events, CommandResult.Rejected? rejection)
    {
        Events = events;
        Rejection = rejection;
    }

    public IReadOnlyList<TEvent> Events { get; }
    public CommandResult.Rejected? Rejection { get; }
    public bool IsRejected => Rejection is not null;

    public static Decision<TEvent> Accept(params TEvent[] events) => new(events, null);
    public static Decision<TEvent> NoOp { get; } = new(Array.Empty<TEvent>(), null);
    public static Decision<TEvent> Reject(RejectionReason reason, string message) =>
        new(Array.Empty<TEvent>(), new CommandResult.Rejected(reason, message));
}

/// <summary>
/// What <see cref="AggregateActor{TState,TCommand,TEvent}"/> asks of a state. States do not implement it directly but
/// through <see cref="IAggregateState{TSelf,TCommand,TEvent}"/> (answers are <see cref="CommandResult"/>) or the
/// registration area's <c>IRegistrationState</c> (answers carry data, refusals are <see cref="RegistrationReply.Refused"/>):
/// the shell stays one whatever the reply contract, and each contract is mapped once, in its interface.
/// </summary>
public interface IEventSourcedState<TSelf, TCommand, TEvent>
    where TSelf : IEventSourcedState<TSelf, TCommand, TEvent>
{
    TSelf Apply(TEvent @event);

    /// <summary>The events <paramref name="command"/> decides (none = no-op), or the message that refuses it.</summary>
    (IReadOnlyList<TEvent> Events, object? Refusal) Judge(TCommand command);

    /// <summary>The answer to an accepted <paramref name="command"/>, computed on the state after its events were applied.</summary>
    object Answer(TCommand command, int eventCount);
}

/// <summary>An immutable aggregate state with pure decide/apply functions.</summary>
public interface IAggregateState<TSelf, TCommand, TEvent> : IEventSourcedState<TSelf, TCommand, TEvent>
    where TSelf : IAggregateState<TSelf, TCommand, TEvent>
{
    Decision<TEvent> Decide(TCommand command);

    (IReadOnlyList<TEvent> Events, object? Refusal) IEventSourcedState<TSelf, TCommand, TEvent>.Judge(TCommand command)
    {
        var decision = Decide(command);
        return (decision.Events, decision.Rejection);
    }

    object IEventSourcedState<TSelf, TCommand, TEvent>.Answer(TCommand command, int eventCount) => new CommandResult.Accepted(eventCount);
}

internal static class Rules
{
    public static bool Blank(string? value) => string.IsNullOrWhiteSpace(value);

    public static string MustBeNonEmpty(string command, string field) =>
        $"{command}.{field} must be non-empty";

    public static string MustBePositive(string command, string field, long value) =>
        $"{command}.{field} must be > 0 (was {value})";

    public static string MustBeNonNegative(string command, string field, long value) =>
        $"{command}.{field} must be >= 0 (was {value})";

    public static string MustBeDefined<TEnum>(string command, string field, TEnum value) where TEnum : struct, Enum =>
        $"{command}.{field} must be one of {string.Join(", ", Enum.GetNames<TEnum>())} (was {value})";
}
