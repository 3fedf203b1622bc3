using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace SiteRecovery.Actors.Failover;

/// <summary>What starting a drill came to: <see cref="Started"/> when a test failover job was started, and a line for the log.</summary>
public sealed record DrillStartResult(bool Started, string Detail);

/// <summary>
/// Starts the drills a <see cref="DrillSchedule"/> says are due. It learns the plans' drill schedules and the test failovers
/// from the journal (all events from the start, as <c>GroupPointScheduler</c> does, so a restarted node knows when each
/// plan was last drilled), checks every <c>tick</c>, and starts at most one drill per plan at a time through
/// <c>start</c>, logging each outcome. A drill that did not start (a machine already in a failover, no point yet) is
/// logged and tried again at the next tick.
/// </summary>
public sealed class DrillScheduler : ReceiveActor, IWithTimers
{
    public sealed record Outcome(DueDrill Drill, long AttemptUnixMs, DrillStartResult Result);
    sealed class Tick { public static readonly Tick Instance = new(); }
    sealed record StreamFailed(Exception Cause);

    /// <summary>Answers <see cref="DrillSchedule"/> (for tests and diagnostics).</summary>
    public sealed class GetSchedule { public static readonly GetSchedule Instance = new(); }

    DrillSchedule _schedule = DrillSchedule.Empty;
    ImmutableHashSet<string> _starting = ImmutableHashSet<string>.Empty;
    readonly TimeSpan _tick;

    public ITimerScheduler Timers { get; set; } = null!;

    public DrillScheduler(Func<DueDrill, Task<DrillStartResult>> start, TimeSpan tick, TimeSpan minimumEvery, Func<long> nowUnixMs, Action<string> log)
    {
        _tick = tick;
        Receive<string>(s => s == "init", _ => Sender.Tell("ack"));
        Receive<EventEnvelope>(e =>
        {
            _schedule = _schedule.Apply(e.Event);
            Sender.Tell("ack");
        });
        Receive<string>(s => s == "done", _ => { });
        Receive<StreamFailed>(f => throw new InvalidOperationException("the drill schedule lost its journal stream", f.Cause));
        Receive<Tick>(_ =>
        {
            var now = nowUnixMs();
            foreach (var due in _schedule.Due(now, minimumEvery))
            {
                if (_starting.Contains(due.PlanId)) continue;
                _starting = _starting.Add(due.PlanId);
                start(due).ContinueWith(t => new Outcome(due, now, t.IsCompletedSuccessfully
                        ? t.Result
                        : new DrillStartResult(false, $"failed: {t.Exception?.GetBaseException().Message ?? "cancelled"}")),
                    TaskScheduler.Default).PipeTo(Self);
            }
        });
        Receive<Outcome>(o =>
        {
            _starting = _starting.Remove(o.Drill.PlanId);
            // Recorded at once: the job's own FailoverJobStarted may reach this actor only after the next tick.
            if (o.Result.Started) _schedule = _schedule.Started(o.Drill.PlanId, o.AttemptUnixMs);
            log($"plan {o.Drill.PlanId}: scheduled drill {(o.Result.Started ? "started" : "not started (tried again at the next check)")}: {o.Result.Detail}");
        });
        Receive<GetSchedule>(_ => Sender.Tell(_schedule));
    }

    protected override void PreStart()
    {
        var system = Context.System;
        SiteRecovery.Actors.Hosting.ReadJournals.Sql(system)
            .AllEvents(Offset.NoOffset())
            .RunWith(Sink.ActorRefWithAck<EventEnvelope>(Self, "init", "ack", "done", e => new StreamFailed(e)), system.Materializer());
        Timers.StartPeriodicTimer("tick", Tick.Instance, _tick);
    }

    public static Props Props(Func<DueDrill, Task<DrillStartResult>> start, TimeSpan tick, TimeSpan minimumEvery, Func<long> nowUnixMs, Action<string> log) =>
        Akka.Actor.Props.Create(() => new DrillScheduler(start, tick, minimumEvery, nowUnixMs, log));
}
