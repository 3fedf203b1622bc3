using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.MasterTarget;

/// <summary>Event-sourced MasterTarget entity (persistence id <c>master-target-{serverId}</c>).</summary>
public sealed class MasterTargetActor : AggregateActor<MasterTargetState, IMasterTargetCommand, IMasterTargetEvent>
{
    public const string PersistenceIdPrefix = "master-target-";

    public MasterTargetActor(string serverId, EntitySettings settings)
        : base(PersistenceIdPrefix + serverId, MasterTargetState.Empty(serverId), settings)
    {
        Command<GetMasterTarget>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string serverId, EntitySettings settings) =>
        Akka.Actor.Props.Create(() => new MasterTargetActor(serverId, settings));
}
