using System.Collections.Immutable;
using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.RecoveryPlan;

/// <summary>What a plan actor tells the recovery-plan directory.</summary>
public interface IRecoveryPlanDirectoryCommand;

/// <summary>Sent by a plan actor to the directory; recording a plan as it is listed already is a no-op.</summary>
public sealed record RecordRecoveryPlan(string PlanId, string Vault) : IRecoveryPlanDirectoryCommand;

/// <summary>Sent by a plan actor after its deletion; forgetting a plan that is not listed is a no-op.</summary>
public sealed record ForgetRecoveryPlan(string PlanId) : IRecoveryPlanDirectoryCommand;

/// <summary>Pure state of the singleton directory of existing recovery plans (plan id → vault).</summary>
[Manifest("recovery-plan-directory-state.v1")]
public sealed record RecoveryPlanDirectoryState(ImmutableSortedDictionary<string, string> Plans)
    : IControlSnapshot, IAggregateState<RecoveryPlanDirectoryState, IRecoveryPlanDirectoryCommand, IRecoveryPlanDirectoryEvent>
{
    public static RecoveryPlanDirectoryState Empty { get; } = new(ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    public Decision<IRecoveryPlanDirectoryEvent> Decide(IRecoveryPlanDirectoryCommand command) => command switch
    {
        RecordRecoveryPlan c when string.IsNullOrWhiteSpace(c.PlanId) || string.IsNullOrWhiteSpace(c.Vault) =>
            Decision<IRecoveryPlanDirectoryEvent>.Reject(RejectionReason.InvalidArgument, $"{nameof(RecordRecoveryPlan)}.PlanId and .Vault must be non-empty"),
        RecordRecoveryPlan c => Plans.TryGetValue(c.PlanId, out var vault) && vault == c.Vault
            ? Decision<IRecoveryPlanDirectoryEvent>.NoOp
            : Decision<IRecoveryPlanDirectoryEvent>.Accept(new RecoveryPlanListed(c.PlanId, c.Vault)),
        ForgetRecoveryPlan c => Plans.ContainsKey(c.PlanId ?? "")
            ? Decision<IRecoveryPlanDirectoryEvent>.Accept(new RecoveryPlanUnlisted(c.PlanId!))
            : Decision<IRecoveryPlanDirectoryEvent>.NoOp,
        _ => Decision<IRecoveryPlanDirectoryEvent>.Reject(RejectionReason.InvalidArgument, $"{command.GetType().Name} is not handled by the recovery-plan directory"),
    };

    public RecoveryPlanDirectoryState Apply(IRecoveryPlanDirectoryEvent e) => e switch
    {
        RecoveryPlanListed l => this with { Plans = Plans.SetItem(l.PlanId, l.Vault) },
        RecoveryPlanUnlisted u => this with { Plans = Plans.Remove(u.PlanId) },
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Unknown recovery-plan directory event"),
    };

    public RecoveryPlanList ToList() => new(Plans.Select(kv => new RecoveryPlanListing(kv.Key, kv.Value)).ToList());
}

/// <summary>
/// Persistent singleton (persistence id <c>recovery-plan-directory</c>) listing the existing plans; answers
/// <see cref="ListRecoveryPlans"/>. Fed only by the plan actors (<see cref="RecordRecoveryPlan"/>, <see cref="ForgetRecoveryPlan"/>).
/// </summary>
public sealed class RecoveryPlanDirectoryActor
    : AggregateActor<RecoveryPlanDirectoryState, IRecoveryPlanDirectoryCommand, IRecoveryPlanDirectoryEvent>
{
    public const string SingletonPersistenceId = "recovery-plan-directory";

    // A singleton has no region to ask for passivation: it lives as long as the node.
    public RecoveryPlanDirectoryActor(EntitySettings settings)
        : base(SingletonPersistenceId, RecoveryPlanDirectoryState.Empty, settings with { PassivateAfter = null })
    {
        Command<ListRecoveryPlans>(_ => Sender.Tell(State.ToList()));
    }

    public static Props Props(EntitySettings settings) => Akka.Actor.Props.Create(() => new RecoveryPlanDirectoryActor(settings));
}
