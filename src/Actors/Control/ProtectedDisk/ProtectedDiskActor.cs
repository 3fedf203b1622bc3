using Akka.Actor;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedDisk;

/// <summary>Event-sourced ProtectedDisk entity (persistence id <c>disk-{diskId}</c>).</summary>
public sealed class ProtectedDiskActor : AggregateActor<ProtectedDiskState, IProtectedDiskCommand, IProtectedDiskEvent>
{
    public const string PersistenceIdPrefix = "disk-";

    public ProtectedDiskActor(string diskId, EntitySettings settings)
        : base(PersistenceIdPrefix + diskId, ProtectedDiskState.Empty(diskId), settings)
    {
        Command<GetDisk>(q => Sender.Tell(State.ToView(q.NowUnixMs)));
    }

    public static Props Props(string diskId, EntitySettings settings) =>
        Akka.Actor.Props.Create(() => new ProtectedDiskActor(diskId, settings));
}
