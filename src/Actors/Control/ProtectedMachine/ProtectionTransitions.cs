using System.Collections.Frozen;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedMachine;

/// <summary>One legal transition: in <see cref="From"/>, <see cref="Command"/> moves the machine to <see cref="To"/>.</summary>
public sealed record ProtectionTransition(ProtectionState From, Type Command, ProtectionState To);

/// <summary>
/// The protection state machine as data. Any (state, command) pair not in <see cref="Table"/> is rejected with
/// <see cref="RejectionReason.InvalidState"/> naming the state and the command.
/// <code>
/// NotDiscovered      + DiscoverMachine            → Discovered
/// Discovered         + DiscoverMachine            → Discovered          (refresh properties)
/// Disabled           + DiscoverMachine            → Discovered          (rediscover after disable)
/// Discovered         + EnableProtection           → Enabling            (validation + placement)
/// Enabling           + AbortEnabling              → Discovered
/// Enabling           + StartInitialReplication    → InitialReplication
/// InitialReplication + CompleteInitialReplication → Protected
/// Protected          + ChangeFailoverProperties   → Protected
/// Protected          + StartFailover              → FailoverInProgress
/// FailoverInProgress + CompleteFailover           → FailedOver
/// FailedOver         + StartReprotect             → ReprotectInProgress
/// ReprotectInProgress+ CompleteReprotect          → Protected
/// Enabling | InitialReplication | Protected | FailedOver + DisableProtection → Disabling
/// Disabling          + CompleteDisable            → Disabled
/// </code>
/// </summary>
public static class ProtectionTransitions
{
    public static IReadOnlyList<ProtectionTransition> Table { get; } =
    [
        new(ProtectionState.NotDiscovered, typeof(DiscoverMachine), ProtectionState.Discovered),
        new(ProtectionState.Discovered, typeof(DiscoverMachine), ProtectionState.Discovered),
        new(ProtectionState.Disabled, typeof(DiscoverMachine), ProtectionState.Discovered),
        new(ProtectionState.Discovered, typeof(EnableProtection), ProtectionState.Enabling),
        new(ProtectionState.Enabling, typeof(AbortEnabling), ProtectionState.Discovered),
        new(ProtectionState.Enabling, typeof(StartInitialReplication), ProtectionState.InitialReplication),
        new(ProtectionState.InitialReplication, typeof(CompleteInitialReplication), ProtectionState.Protected),
        new(ProtectionState.Protected, typeof(ChangeFailoverProperties), ProtectionState.Protected),
        new(ProtectionState.Protected, typeof(StartFailover), ProtectionState.FailoverInProgress),
        new(ProtectionState.FailoverInProgress, typeof(CompleteFailover), ProtectionState.FailedOver),
        new(ProtectionState.FailedOver, typeof(StartReprotect), ProtectionState.ReprotectInProgress),
        new(ProtectionState.ReprotectInProgress, typeof(CompleteReprotect), ProtectionState.Protected),
        new(ProtectionState.Enabling, typeof(DisableProtection), ProtectionState.Disabling),
        new(ProtectionState.InitialReplication, typeof(DisableProtection), ProtectionState.Disabling),
        new(ProtectionState.Protected, typeof(DisableProtection), ProtectionState.Disabling),
        new(ProtectionState.FailedOver, typeof(DisableProtection), ProtectionState.Disabling),
        new(ProtectionState.Disabling, typeof(CompleteDisable), ProtectionState.Disabled),
    ];

    private static readonly FrozenDictionary<(ProtectionState, Type), ProtectionState> Lookup =
        Table.ToFrozenDictionary(t => (t.From, t.Command), t => t.To);

    public static bool TryGet(ProtectionState from, Type command, out ProtectionState to) =>
        Lookup.TryGetValue((from, command), out to);

    public static bool IsLegal(ProtectionState from, ProtectionState to) =>
        Table.Any(t => t.From == from && t.To == to);

    /// <summary>Command names allowed in <paramref name="from"/>, for rejection messages.</summary>
    public static IReadOnlyList<string> AllowedIn(ProtectionState from) =>
        Table.Where(t => t.From == from).Select(t => t.Command.Name).Distinct().ToList();
}
