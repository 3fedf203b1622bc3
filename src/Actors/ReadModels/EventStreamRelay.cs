using System.Threading.Channels;
using Akka.Actor;

namespace SiteRecovery.Actors.ReadModels;

/// <summary>
/// Bridges the actor system's event stream (journal events and job changes published by
/// <see cref="JobsProjection"/>) to one live subscriber, e.g. an HTTP event stream. Bounded: a
/// subscriber that does not keep up loses the oldest items and is told how many it missed.
/// </summary>
public sealed class EventStreamRelay : ReceiveActor
{
    public static Props Props(ChannelWriter<object> output) => Akka.Actor.Props.Create(() => new EventStreamRelay(output));

    /// <summary>Written to the channel when items were dropped for a slow subscriber.</summary>
    public sealed record Missed(long Count);

    long _missed;

    public EventStreamRelay(ChannelWriter<object> output)
    {
        Receive<JobsProjection.JournalEventSeen>(e => Write(output, e));
        Receive<JobsProjection.JobChanged>(e => Write(output, e));
    }

    void Write(ChannelWriter<object> output, object item)
    {
        if (_missed > 0 && output.TryWrite(new Missed(_missed))) _missed = 0;
        if (!output.TryWrite(item)) _missed++;
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(JobsProjection.JournalEventSeen));
        Context.System.EventStream.Subscribe(Self, typeof(JobsProjection.JobChanged));
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);
}
