using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedMachine;

/// <summary>Event-sourced ProtectedMachine entity (persistence id <c>protected-machine-{machineId}</c>).</summary>
public sealed class ProtectedMachineActor : AggregateActor<ProtectedMachineState, IProtectedMachineCommand, IProtectedMachineEvent>
{
    public const string PersistenceIdPrefix = "protected-machine-";

    public ProtectedMachineActor(string machineId, EntitySettings settings)
        : base(PersistenceIdPrefix + machineId, ProtectedMachineState.Empty(machineId), settings)
    {
        Command<GetProtectedMachine>(_ => Sender.Tell(State.ToView()));
    }

    public static Props Props(string machineId, EntitySettings settings) =>
        Akka.Actor.Props.Create(() => new ProtectedMachineActor(machineId, settings));
}
