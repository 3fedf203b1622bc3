using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.RecoveryPlan;

/// <summary>Sent by a plan actor to the directory; recording a plan as it is listed already is a no-op.</summary>
public sealed record RecordRecoveryPlan(string PlanId, string Vault);

/// <summary>Sent by a plan actor after its deletion; forgetting a plan that is not listed is a no-op.</summary>
public sealed record ForgetRecoveryPlan(string PlanId);

/// <summary>Pure state of the singleton directory of existing recovery plans (plan id → vault).</summary>
[Manifest("recovery-plan-directory-state.v1")]
public sealed record RecoveryPlanDirectoryState(ImmutableSortedDictionary<string, string> Plans) : IControlSnapshot
{
    public static RecoveryPlanDirectoryState Empty { get; } = new(ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    public Decision<IRecoveryPlanDirectoryEvent> Decide(object command) => command switch
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
public sealed class RecoveryPlanDirectoryActor : ReceivePersistentActor
{
    public const string SingletonPersistenceId = "recovery-plan-directory";
    private readonly EntitySettings _settings;
    private RecoveryPlanDirectoryState _state = RecoveryPlanDirectoryState.Empty;

    public RecoveryPlanDirectoryActor(EntitySettings settings)
    {
        _settings = settings;
        Recover<SnapshotOffer>(o =>
        {
            if (o.Snapshot is RecoveryPlanDirectoryState s) _state = s;
        });
        Recover<IRecoveryPlanDirectoryEvent>(e => _state = _state.Apply(e));

        Command<RecordRecoveryPlan>(Handle);
        Command<ForgetRecoveryPlan>(Handle);
        Command<ListRecoveryPlans>(_ => Sender.Tell(_state.ToList()));
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(_ => { });
    }

    public override string PersistenceId => SingletonPersistenceId;

    public static Props Props(EntitySettings settings) => Akka.Actor.Props.Create(() => new RecoveryPlanDirectoryActor(settings));

    private void Handle(object command)
    {
        var decision = _state.Decide(command);
        PersistAll(decision.Events, persisted =>
        {
            _state = _state.Apply(persisted);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(_state);
        });
    }
}
