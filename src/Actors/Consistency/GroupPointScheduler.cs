using System.Collections.Immutable;
using Akka.Actor;
using SiteRecovery.Actors.ReadModels;

namespace SiteRecovery.Actors.Consistency;

/// <summary>
/// Takes the group bookmarks a <see cref="GroupSchedule"/> says are due. It learns the groups from the journal events
/// the jobs projection republishes, checks every <c>tick</c>, and runs at most one bookmark per group at a time
/// through <c>run</c> (the node's group-bookmark service), logging each outcome.
/// </summary>
public sealed class GroupPointScheduler : ReceiveActor, IWithTimers
{
    public sealed record Outcome(DueGroupBookmark Bookmark, string Result);
    sealed class Tick { public static readonly Tick Instance = new(); }

    /// <summary>Answers <see cref="GroupSchedule"/> (for tests and diagnostics).</summary>
    public sealed class GetSchedule { public static readonly GetSchedule Instance = new(); }

    GroupSchedule _schedule = GroupSchedule.Empty;
    ImmutableHashSet<string> _running = ImmutableHashSet<string>.Empty;

    public ITimerScheduler Timers { get; set; } = null!;

    public GroupPointScheduler(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log)
    {
        Receive<JobsProjection.JournalEventSeen>(e => _schedule = _schedule.Apply(e.Event));
        Receive<Tick>(_ =>
        {
            var now = nowUnixMs();
            foreach (var due in _schedule.Due(now, crashInterval))
            {
                if (_running.Contains(due.GroupId)) continue;
                _schedule = _schedule.Attempted(due, now);
                _running = _running.Add(due.GroupId);
                run(due).ContinueWith(t => new Outcome(due, t.IsCompletedSuccessfully ? t.Result : $"failed: {t.Exception?.GetBaseException().Message ?? "cancelled"}"),
                    TaskScheduler.Default).PipeTo(Self);
            }
        });
        Receive<Outcome>(o =>
        {
            _running = _running.Remove(o.Bookmark.GroupId);
            log($"group {o.Bookmark.GroupId}: scheduled {(o.Bookmark.AppConsistent ? "app-consistent" : "crash-consistent")} bookmark {o.Bookmark.BookmarkId}: {o.Result}");
        });
        Receive<GetSchedule>(_ => Sender.Tell(_schedule));
        _tick = tick;
    }

    readonly TimeSpan _tick;

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(JobsProjection.JournalEventSeen));
        Timers.StartPeriodicTimer("tick", Tick.Instance, _tick);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    public static Props Props(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log) =>
        Akka.Actor.Props.Create(() => new GroupPointScheduler(run, tick, crashInterval, nowUnixMs, log));
}
