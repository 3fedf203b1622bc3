using Akka.Actor;
using SiteRecovery.Actors.Scheduling;

namespace SiteRecovery.Actors.Consistency;

/// <summary>
/// Takes the group bookmarks a <see cref="GroupSchedule"/> says are due: on the journal-following shell
/// (<see cref="JournalFollowingScheduler{TSchedule,TDue,TResult}"/>: the groups from the whole journal, a check every
/// <c>tick</c>, at most one bookmark per group at a time), through <c>run</c> (the node's group-bookmark service),
/// logging each outcome. A bookmark counts as attempted when it starts, whatever it comes to, so a failing group is
/// tried again at its next interval, not at every tick. It also hands each member machine's retention window (from its
/// group) to <c>windows</c>, whenever the groups change.
/// </summary>
public sealed class GroupPointScheduler : JournalFollowingScheduler<GroupSchedule, DueGroupBookmark, string>
{
    readonly Func<DueGroupBookmark, Task<string>> _run;
    readonly TimeSpan? _crashInterval;
    readonly Action<string> _log;
    readonly Action<IReadOnlyDictionary<string, TimeSpan>>? _windows;

    public GroupPointScheduler(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log,
        Action<IReadOnlyDictionary<string, TimeSpan>>? windows = null)
        : base(GroupSchedule.Empty, tick, nowUnixMs, "the group schedule")
    {
        _run = run;
        _crashInterval = crashInterval;
        _log = log;
        _windows = windows;
    }

    protected override GroupSchedule Apply(GroupSchedule schedule, object @event) => schedule.Apply(@event);

    protected override void Changed(GroupSchedule schedule) => _windows?.Invoke(schedule.RetentionWindows());

    protected override IEnumerable<DueGroupBookmark> Due(GroupSchedule schedule, long nowUnixMs) => schedule.Due(nowUnixMs, _crashInterval);

    protected override string KeyOf(DueGroupBookmark due) => due.GroupId;

    protected override GroupSchedule Attempting(GroupSchedule schedule, DueGroupBookmark due, long nowUnixMs) => schedule.Attempted(due, nowUnixMs);

    protected override Task<string> Start(DueGroupBookmark due) => _run(due);

    protected override string Failed(string detail) => detail;

    protected override GroupSchedule Finished(GroupSchedule schedule, DueGroupBookmark due, long attemptUnixMs, string result)
    {
        _log($"group {due.GroupId}: scheduled {(due.AppConsistent ? "app-consistent" : "crash-consistent")} bookmark {due.BookmarkId}: {result}");
        return schedule;
    }

    public static Props Props(Func<DueGroupBookmark, Task<string>> run, TimeSpan tick, TimeSpan? crashInterval, Func<long> nowUnixMs, Action<string> log,
        Action<IReadOnlyDictionary<string, TimeSpan>>? windows = null) =>
        Akka.Actor.Props.Create(() => new GroupPointScheduler(run, tick, crashInterval, nowUnixMs, log, windows));
}
