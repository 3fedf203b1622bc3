using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace SiteRecovery.Actors.Scheduling;

/// <summary>
/// The one shell of a scheduler whose schedule is a projection of the journal (the group points'
/// <c>GroupPointScheduler</c>, the drills' <c>DrillScheduler</c>): it follows every event of the journal into its
/// schedule, checks the schedule every tick, starts what is due and takes each start's outcome back. What is due, and
/// what an attempt or an outcome changes in the schedule, is the subclass's (its pure schedule record's) decision.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>The schedule is rebuilt from the journal's first event at every start (and restart), so a restarted node knows
/// its schedules and the last attempts the journal recorded again; nothing of it is stored elsewhere.</item>
/// <item>An envelope is acknowledged only once it is applied: the stream's back-pressure, not a mailbox, bounds what
/// waits, and a tick sees the schedule as of a prefix of the journal, never a reordering of it.</item>
/// <item>At most one start per key is in flight: a key whose start has not come back is skipped by every tick, even when
/// the schedule still says it is due (a slow bookmark or drill start is not started again on top of itself).</item>
/// <item>Every start comes back as an outcome message, also one that throws, faults or is cancelled, so its key is
/// always freed; the outcome is handled on the actor's thread, where the schedule may change.</item>
/// <item>A journal stream that fails throws: the supervisor restarts the actor, which follows the journal again from the
/// start.</item>
/// </list>
/// </remarks>
/// <typeparam name="TSchedule">The pure schedule; its <c>Apply</c> returns the same instance for an event that changes nothing.</typeparam>
/// <typeparam name="TDue">One start the schedule wants now.</typeparam>
/// <typeparam name="TResult">What a start came to.</typeparam>
public abstract class JournalFollowingScheduler<TSchedule, TDue, TResult> : ReceiveActor, IWithTimers
    where TSchedule : class
{
    /// <summary>Answers the current schedule (for tests and diagnostics).</summary>
    public sealed class GetSchedule { public static readonly GetSchedule Instance = new(); }

    sealed record Outcome(TDue Due, long AttemptUnixMs, TResult Result);
    sealed class Tick { public static readonly Tick Instance = new(); }
    sealed record StreamFailed(Exception Cause);

    readonly TimeSpan _tick;
    TSchedule _schedule;
    ImmutableHashSet<string> _inFlight = ImmutableHashSet<string>.Empty.WithComparer(StringComparer.Ordinal);

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="empty">The schedule before the journal's first event.</param>
    /// <param name="tick">How often the schedule is checked.</param>
    /// <param name="nowUnixMs">The clock the schedule is checked against.</param>
    /// <param name="name">The schedule's name, for the error when the journal stream is lost ("the drill schedule").</param>
    protected JournalFollowingScheduler(TSchedule empty, TimeSpan tick, Func<long> nowUnixMs, string name)
    {
        _schedule = empty;
        _tick = tick;
        Receive<string>(s => s == "init", _ => Sender.Tell("ack"));
        Receive<EventEnvelope>(e =>
        {
            var before = _schedule;
            _schedule = Apply(_schedule, e.Event);
            if (!ReferenceEquals(before, _schedule)) Changed(_schedule);
            Sender.Tell("ack");
        });
        Receive<string>(s => s == "done", _ => { });
        Receive<StreamFailed>(f => throw new InvalidOperationException($"{name} lost its journal stream", f.Cause));
        Receive<Tick>(_ =>
        {
            var now = nowUnixMs();
            foreach (var due in Due(_schedule, now))
            {
                var key = KeyOf(due);
                if (_inFlight.Contains(key)) continue;
                _schedule = Attempting(_schedule, due, now);
                _inFlight = _inFlight.Add(key);
                Task<TResult> started;
                // A start that throws before its task exists must still free its key.
                try { started = Start(due); }
                catch (Exception e) { started = Task.FromException<TResult>(e); }
                started.ContinueWith(t => new Outcome(due, now, t.IsCompletedSuccessfully
                        ? t.Result
                        : Failed($"failed: {t.Exception?.GetBaseException().Message ?? "cancelled"}")),
                    TaskScheduler.Default).PipeTo(Self);
            }
        });
        Receive<Outcome>(o =>
        {
            _inFlight = _inFlight.Remove(KeyOf(o.Due));
            _schedule = Finished(_schedule, o.Due, o.AttemptUnixMs, o.Result);
        });
        Receive<GetSchedule>(_ => Sender.Tell(_schedule));
    }

    /// <summary>The schedule after one journal event.</summary>
    protected abstract TSchedule Apply(TSchedule schedule, object @event);

    /// <summary>Called after a journal event changed the schedule.</summary>
    protected virtual void Changed(TSchedule schedule) { }

    /// <summary>What is due at <paramref name="nowUnixMs"/>.</summary>
    protected abstract IEnumerable<TDue> Due(TSchedule schedule, long nowUnixMs);

    /// <summary>The key of which at most one start is in flight (a group, a plan).</summary>
    protected abstract string KeyOf(TDue due);

    /// <summary>The schedule once <paramref name="due"/> is being started at <paramref name="nowUnixMs"/>, before its outcome is known.</summary>
    protected virtual TSchedule Attempting(TSchedule schedule, TDue due, long nowUnixMs) => schedule;

    /// <summary>Starts <paramref name="due"/>. Called on the actor's thread, but its task completes off it: what the task runs must not touch the actor's state.</summary>
    protected abstract Task<TResult> Start(TDue due);

    /// <summary>The result of a start that threw, faulted or was cancelled; <paramref name="detail"/> says which and why.</summary>
    protected abstract TResult Failed(string detail);

    /// <summary>The schedule once the start of <paramref name="due"/>, attempted at <paramref name="attemptUnixMs"/>, came to <paramref name="result"/> (the place to log it).</summary>
    protected abstract TSchedule Finished(TSchedule schedule, TDue due, long attemptUnixMs, TResult result);

    protected override void PreStart()
    {
        var system = Context.System;
        SiteRecovery.Actors.ReadModels.ReadJournals.Sql(system)
            .AllEvents(Offset.NoOffset())
            .RunWith(Sink.ActorRefWithAck<EventEnvelope>(Self, "init", "ack", "done", e => new StreamFailed(e)), system.Materializer());
        Timers.StartPeriodicTimer("tick", Tick.Instance, _tick);
    }
}
