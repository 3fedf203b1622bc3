using Akka.Actor;
using SiteRecovery.Actors.Scheduling;

namespace SiteRecovery.Actors.Failover;

/// <summary>What starting a drill came to: <see cref="Started"/> when a test failover job was started, and a line for the log.</summary>
public sealed record DrillStartResult(bool Started, string Detail);

/// <summary>
/// Starts the drills a <see cref="DrillSchedule"/> says are due: on the journal-following shell
/// (<see cref="JournalFollowingScheduler{TSchedule,TDue,TResult}"/>: the plans' drill schedules and the test failovers
/// from the whole journal, so a restarted node knows when each plan was last drilled; a check every <c>tick</c>; at
/// most one drill start per plan at a time), through <c>start</c>, logging each outcome. A drill that did not start (a
/// machine already in a failover, no point yet) is logged and tried again at the next tick.
/// </summary>
public sealed class DrillScheduler : JournalFollowingScheduler<DrillSchedule, DueDrill, DrillStartResult>
{
    readonly Func<DueDrill, Task<DrillStartResult>> _start;
    readonly TimeSpan _minimumEvery;
    readonly Action<string> _log;

    public DrillScheduler(Func<DueDrill, Task<DrillStartResult>> start, TimeSpan tick, TimeSpan minimumEvery, Func<long> nowUnixMs, Action<string> log)
        : base(DrillSchedule.Empty, tick, nowUnixMs, "the drill schedule")
    {
        _start = start;
        _minimumEvery = minimumEvery;
        _log = log;
    }

    protected override DrillSchedule Apply(DrillSchedule schedule, object @event) => schedule.Apply(@event);

    protected override IEnumerable<DueDrill> Due(DrillSchedule schedule, long nowUnixMs) => schedule.Due(nowUnixMs, _minimumEvery);

    protected override string KeyOf(DueDrill due) => due.PlanId;

    protected override Task<DrillStartResult> Start(DueDrill due) => _start(due);

    protected override DrillStartResult Failed(string detail) => new(false, detail);

    protected override DrillSchedule Finished(DrillSchedule schedule, DueDrill due, long attemptUnixMs, DrillStartResult result)
    {
        _log($"plan {due.PlanId}: scheduled drill {(result.Started ? "started" : "not started (tried again at the next check)")}: {result.Detail}");
        // Recorded at once: the job's own FailoverJobStarted may reach this actor only after the next tick.
        return result.Started ? schedule.Started(due.PlanId, attemptUnixMs) : schedule;
    }

    public static Props Props(Func<DueDrill, Task<DrillStartResult>> start, TimeSpan tick, TimeSpan minimumEvery, Func<long> nowUnixMs, Action<string> log) =>
        Akka.Actor.Props.Create(() => new DrillScheduler(start, tick, minimumEvery, nowUnixMs, log));
}
