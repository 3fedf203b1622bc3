using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectionGroup;

/// <summary>Event-sourced ProtectionGroup entity (persistence id <c>protection-group-{groupId}</c>).</summary>
public sealed class ProtectionGroupActor : AggregateActor<ProtectionGroupState, IProtectionGroupCommand, IProtectionGroupEvent>
{
    public const string PersistenceIdPrefix = "protection-group-";

    public ProtectionGroupActor(string groupId, EntitySettings settings)
        : base(PersistenceIdPrefix + groupId, ProtectionGroupState.Empty(groupId), settings)
    {
        Command<GetProtectionGroup>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string groupId, EntitySettings settings) =>
        Akka.Actor.Props.Create(() => new ProtectionGroupActor(groupId, settings));
}
