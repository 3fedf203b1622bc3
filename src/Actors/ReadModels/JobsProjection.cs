using Akka;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace SiteRecovery.Actors.ReadModels;

/// <summary>
/// Keeps the jobs read model: follows every event of the journal (Akka.Persistence.Query AllEvents,
/// from the beginning, so it is rebuilt at each start) through <see cref="JobRules"/>, answers
/// queries, and publishes each journal event and each job change to the actor system's event stream
/// for live subscribers (the HTTP event stream).
/// </summary>
public sealed class JobsProjection : ReceiveActor
{
    public sealed record GetJobs(bool RunningOnly = false);
    public sealed record JobsView(IReadOnlyList<Job> Jobs, long EventsSeen);
    /// <summary>Published on the event stream for every journal event, as it is read.</summary>
    public sealed record JournalEventSeen(string PersistenceId, long SequenceNr, long TimestampUnixMs, string Type, object Event);
    /// <summary>Published on the event stream for every job change.</summary>
    public sealed record JobChanged(Job Job);

    sealed record Envelope(EventEnvelope Inner);
    sealed record StreamFailed(Exception Cause);

    IReadOnlyDictionary<string, Job> _jobs = new Dictionary<string, Job>();
    long _seen;

    public JobsProjection()
    {
        var system = Context.System;
        var journal = ReadJournals.Sql(system);
        var self = Self;
        journal.AllEvents(Offset.NoOffset())
            .RunWith(Sink.ActorRefWithAck<EventEnvelope>(self, "init", "ack", "done", e => new StreamFailed(e)), system.Materializer());

        Receive<string>(s => s == "init", _ => Sender.Tell("ack"));
        Receive<EventEnvelope>(e =>
        {
            _seen++;
            var at = new DateTime(e.Timestamp, DateTimeKind.Utc);
            var atMs = e.Timestamp > 0 ? new DateTimeOffset(at).ToUnixTimeMilliseconds() : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var (jobs, changed) = JobRules.Apply(_jobs, e.Event, atMs, _seen);
            _jobs = jobs;
            system.EventStream.Publish(new JournalEventSeen(e.PersistenceId, e.SequenceNr, atMs, e.Event.GetType().Name, e.Event));
            foreach (var job in changed) system.EventStream.Publish(new JobChanged(job));
            Sender.Tell("ack");
        });
        Receive<string>(s => s == "done", _ => { });
        Receive<StreamFailed>(f => throw new InvalidOperationException("the jobs projection lost its journal stream", f.Cause));
        Receive<GetJobs>(q => Sender.Tell(new JobsView(
            _jobs.Values.Where(j => !q.RunningOnly || j.State == JobState.Running).OrderByDescending(j => j.StartedUnixMs).ThenBy(j => j.Id).ToList(), _seen)));
    }
}
