using System.Text.Json;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Serialization;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>Runs commands through Decide/Apply, checking the generic laws and a per-step invariant.</summary>
internal static class Checker
{
    public static string Fingerprint(object state) => JsonSerializer.Serialize(state, state.GetType(), ControlJsonSerializer.Options);

    /// <returns>The final state.</returns>
    public static TState Run<TState, TCommand, TEvent>(
        TState empty, IEnumerable<TCommand> commands, Action<TState, TState, TCommand> invariant)
        where TState : class, IAggregateState<TState, TCommand, TEvent>
        where TEvent : class
    {
        var state = empty;
        var emitted = new List<TEvent>();
        foreach (var command in commands)
        {
            var decision = state.Decide(command);
            if (decision.Rejection is { } rejected)
            {
                Assert.Empty(decision.Events);
                Assert.False(string.IsNullOrWhiteSpace(rejected.Message), $"rejection of {command} has no message");
                continue;
            }

            var next = decision.Events.Aggregate(state, (s, e) => s.Apply(e));
            invariant(state, next, command);
            emitted.AddRange(decision.Events);
            state = next;
        }

        // Replaying the events gives the same state, also through a JSON round trip of every event (the journal path).
        var replayed = emitted.Aggregate(empty, (s, e) => s.Apply(e));
        Assert.Equal(Fingerprint(state), Fingerprint(replayed));
        var viaJson = emitted
            .Select(e => (TEvent)JsonSerializer.Deserialize(JsonSerializer.Serialize(e, e.GetType(), ControlJsonSerializer.Options), e.GetType(), ControlJsonSerializer.Options)!)
            .Aggregate(empty, (s, e) => s.Apply(e));
        Assert.Equal(Fingerprint(state), Fingerprint(viaJson));
        return state;
    }
}
