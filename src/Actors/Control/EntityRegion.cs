using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control;

/// <summary>Asks a region which entity children are currently alive (diagnostics / tests).</summary>
public sealed class GetRegionState
{
    public static GetRegionState Instance { get; } = new();
    private GetRegionState() { }
}

public sealed record RegionState(IReadOnlyList<string> ActiveEntityIds);

/// <summary>
/// Single-node stand-in for a cluster-sharding region: creates one child per entity id on demand,
/// forwards <see cref="IEntityMessage"/>s to it, and handles <see cref="Passivate"/> (messages that
/// arrive while an entity is stopping are buffered and delivered to its next incarnation).
/// </summary>
public sealed class EntityRegion : ReceiveActor
{
    private readonly Func<string, Props> _entityProps;
    private readonly Dictionary<string, IActorRef> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, string> _byRef = new();
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _passivating = new(StringComparer.Ordinal);

    public EntityRegion(Type messageType, Func<string, Props> entityProps)
    {
        _entityProps = entityProps;

        Receive<Passivate>(OnPassivate);
        Receive<Terminated>(OnTerminated);
        Receive<GetRegionState>(_ => Sender.Tell(new RegionState(_byId.Keys.Order(StringComparer.Ordinal).ToList())));
        Receive<IEntityMessage>(messageType.IsInstanceOfType, OnEntityMessage);
    }

    public static Props Props(Type messageType, Func<string, Props> entityProps) =>
        Akka.Actor.Props.Create(() => new EntityRegion(messageType, entityProps));

    private void OnEntityMessage(IEntityMessage message)
    {
        var id = message.EntityId;
        if (string.IsNullOrWhiteSpace(id))
        {
            Sender.Tell(new CommandResult.Rejected(RejectionReason.InvalidArgument,
                $"{message.GetType().Name}.EntityId must be non-empty"));
            return;
        }

        if (_passivating.TryGetValue(id, out var buffer))
        {
            buffer.Add((message, Sender));
            return;
        }

        GetOrStart(id).Forward(message);
    }

    private void OnPassivate(Passivate passivate)
    {
        if (!_byRef.TryGetValue(Sender, out var id) || _passivating.ContainsKey(id)) return;
        _passivating[id] = [];
        Sender.Tell(passivate.StopMessage);
    }

    private void OnTerminated(Terminated terminated)
    {
        if (!_byRef.Remove(terminated.ActorRef, out var id)) return;
        _byId.Remove(id);
        if (_passivating.Remove(id, out var buffer) && buffer.Count > 0)
        {
            var child = GetOrStart(id);
            foreach (var (message, sender) in buffer) child.Tell(message, sender);
        }
    }

    private IActorRef GetOrStart(string id)
    {
        if (_byId.TryGetValue(id, out var existing)) return existing;
        var child = Context.ActorOf(_entityProps(id), Uri.EscapeDataString(id));
        Context.Watch(child);
        _byId[id] = child;
        _byRef[child] = id;
        return child;
    }
}
