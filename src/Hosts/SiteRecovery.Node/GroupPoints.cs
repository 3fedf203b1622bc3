using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Node.Api;

namespace SiteRecovery.Node;

/// <summary>
/// What the group-bookmark schedule does on a node that keeps the protection groups and runs the master target:
/// app-consistent group bookmarks at each group's frequency, crash-consistent group points for multi-VM groups. The
/// scheduler itself is wired by <see cref="SchedulingExtensions.AddGroupPointScheduler"/>.
/// </summary>
public static class GroupPoints
{
    static readonly TimeSpan BookmarkTimeout = TimeSpan.FromSeconds(30);

    public static GroupPointPaths Paths(IServiceProvider services)
    {
        var dataPath = services.GetRequiredService<DataPathService>();
        var bookmarks = services.GetRequiredService<GroupBookmarks>();
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("SiteRecovery.GroupSchedule");
        return new GroupPointPaths(async due =>
        {
            if (dataPath.Target is null) return "skipped: the master target is not running";
            try
            {
                var r = await bookmarks.TakeAsync(due.GroupId, due.BookmarkId, due.Machines, due.AppConsistent, BookmarkTimeout, CancellationToken.None);
                return r.Outcome == GroupBookmarkOutcome.Committed
                    ? $"committed as {r.Kind}{(r.AppConsistencyFailure is { } why ? $" (not app-consistent: {why})" : "")}, write stall {r.StallMs:0.#} ms"
                    : $"aborted ({r.AbortReason}): {r.AbortDetail}";
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or TimeoutException)
            {
                return $"not taken: {e.Message}";
            }
        }, windows => dataPath.Target?.SetRetentionWindows(windows), m => log.LogInformation("{Message}", m));
    }
}
