using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Keeps a <see cref="RevocationList"/> current: follows the whole journal from its first event (AllEvents, rebuilt at
/// each start, then live), handing each event to the list. A revocation is journaled before the API answers, so it
/// reaches the list within the read journal's polling interval. A lost stream stops the actor, and its supervisor starts
/// it again from the first event.
/// </summary>
public sealed class RevocationFeed : ReceiveActor
{
    sealed record StreamFailed(Exception Cause);

    public RevocationFeed(RevocationList list)
    {
        var system = Context.System;
        SiteRecovery.Actors.ReadModels.ReadJournals.Sql(system).AllEvents(Offset.NoOffset())
            .RunWith(Sink.ActorRefWithAck<EventEnvelope>(Self, "init", "ack", "done", e => new StreamFailed(e)), system.Materializer());
        Receive<string>(s => s == "init", _ => Sender.Tell("ack"));
        Receive<EventEnvelope>(e =>
        {
            list.Apply(e.Event);
            Sender.Tell("ack");
        });
        Receive<string>(s => s == "done", _ => { });
        Receive<StreamFailed>(f => throw new InvalidOperationException("the revocation list lost its journal stream", f.Cause));
    }
}

public static class RevocationFeedExtensions
{
    /// <summary>Starts the <see cref="RevocationFeed"/> (actor <c>revocations</c>) into <paramref name="list"/>; needs the node's SQL journal.</summary>
    public static AkkaConfigurationBuilder AddRevocationFeed(this AkkaConfigurationBuilder b, RevocationList list) =>
        b.WithActors((system, _) => system.ActorOf(Props.Create(() => new RevocationFeed(list)), "revocations"));
}
