using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProcessServer;

/// <summary>Event-sourced ProcessServer entity (persistence id <c>process-server-{serverId}</c>).</summary>
public sealed class ProcessServerActor : AggregateActor<ProcessServerState, IProcessServerCommand, IProcessServerEvent>
{
    public const string PersistenceIdPrefix = "process-server-";

    public ProcessServerActor(string serverId, EntitySettings settings)
        : base(PersistenceIdPrefix + serverId, ProcessServerState.Empty(serverId), settings)
    {
        Command<GetProcessServer>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string serverId, EntitySettings settings) =>
        Akka.Actor.Props.Create(() => new ProcessServerActor(serverId, settings));
}
