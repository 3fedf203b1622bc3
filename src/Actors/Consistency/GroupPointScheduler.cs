using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;

namespace SiteRecovery.Actors.Consistency;

/// <summary>
/// Takes the group bookmarks a <see cref="GroupSchedule"/> says are due. It learns the groups from the journal (all
/// events from the start, as the jobs projection reads them, so a restarted node knows its groups again), checks every <c>tick</c>, and runs at most one bookmark per group at a time
/// through <c>run</c> (the node's group-bookmark service), logging each outcome. It also hands each member
/// machine's retention window (from its group) to <c>windows</c>, whenever the groups change.
/// </summary>
public sealed class GroupPointScheduler : ReceiveActor, IWithTimers
{
    public sealed record Outcome(DueGroupBookmark Bookmark, string Result);
    sealed class Tick { public static readonly Tick Instance = new(); }
    sealed record StreamFailed(Exception Cause);

    /// <summary>Answers <see cref="GroupSchedule"/> (for tests and diagnostics).</summary>
    public sealed class GetSchedule { public static readonly GetSchedule Instance = new(); }

    GroupSchedule _schedule = GroupSchedule.Empty;
    ImmutableHashSet<string> _running = ImmutableHashSet<string>.Empty;

    public ITimerScheduler Timers { get; set; } = null!;

    public GroupPointScheduler(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log,
        Action<IReadOnlyDictionary<string, TimeSpan>>? windows = null)
    {
        Receive<string>(s => s == "init", _ => Sender.Tell("ack"));
        Receive<EventEnvelope>(e =>
        {
            var before = _schedule;
            _schedule = _schedule.Apply(e.Event);
            if (!ReferenceEquals(before, _schedule)) windows?.Invoke(_schedule.RetentionWindows());
            Sender.Tell("ack");
        });
        Receive<string>(s => s == "done", _ => { });
        Receive<StreamFailed>(f => throw new InvalidOperationException("the group schedule lost its journal stream", f.Cause));
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
        var system = Context.System;
        SiteRecovery.Actors.Hosting.ReadJournals.Sql(system)
            .AllEvents(Offset.NoOffset())
            .RunWith(Sink.ActorRefWithAck<EventEnvelope>(Self, "init", "ack", "done", e => new StreamFailed(e)), system.Materializer());
        Timers.StartPeriodicTimer("tick", Tick.Instance, _tick);
    }

    public static Props Props(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log,
        Action<IReadOnlyDictionary<string, TimeSpan>>? windows = null) =>
        Akka.Actor.Props.Create(() => new GroupPointScheduler(run, tick, crashInterval, nowUnixMs, log, windows));
}
