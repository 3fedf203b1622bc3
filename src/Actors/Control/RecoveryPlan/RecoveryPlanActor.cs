using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.RecoveryPlan;

/// <summary>
/// Event-sourced RecoveryPlan entity (persistence id <c>recovery-plan-{planId}</c>). Keeps the
/// <see cref="RecoveryPlanDirectoryActor"/> in step: after recovery it announces what it is (listed or deleted), and after
/// every message that changed whether or where it exists it announces the change (the directory ignores repeats, so a
/// lost announcement heals the next time the plan starts).
/// </summary>
public sealed class RecoveryPlanActor : AggregateActor<RecoveryPlanState, IRecoveryPlanCommand, IRecoveryPlanEvent>
{
    public const string PersistenceIdPrefix = "recovery-plan-";
    private readonly IActorRef? _directory;
    private RecoveryPlanListing? _announced;

    public RecoveryPlanActor(string planId, EntitySettings settings, IActorRef? directory)
        : base(PersistenceIdPrefix + planId, RecoveryPlanState.Empty(planId), settings)
    {
        _directory = directory;
        Command<GetRecoveryPlan>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string planId, EntitySettings settings, IActorRef? directory = null) =>
        Akka.Actor.Props.Create(() => new RecoveryPlanActor(planId, settings, directory));

    protected override void OnReplaySuccess()
    {
        base.OnReplaySuccess();
        // Never created: nothing to say. Deleted: say so, in case the unlisting was lost.
        if (State.Version > 0) Announce();
    }

    protected override void OnPersisted(IReadOnlyList<IRecoveryPlanEvent> events)
    {
        if (!Equals(State.Listing, _announced)) Announce();
    }

    private void Announce()
    {
        _announced = State.Listing;
        if (_directory is null) return;
        // Told without a sender: the directory's answer would only be an unhandled message here.
        _directory.Tell(_announced is { } l ? new RecordRecoveryPlan(l.PlanId, l.Vault) : new ForgetRecoveryPlan(State.PlanId), ActorRefs.NoSender);
    }
}
