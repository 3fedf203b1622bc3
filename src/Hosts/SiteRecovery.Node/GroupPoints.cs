using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Node.Api;

namespace SiteRecovery.Node;

/// <summary>
/// Starts the group-bookmark schedule on a node that keeps the protection groups and runs the master target:
/// app-consistent group bookmarks at each group's frequency, crash-consistent group points for multi-VM groups.
/// </summary>
public static class GroupPoints
{
    static readonly TimeSpan BookmarkTimeout = TimeSpan.FromSeconds(30);

    public static void Start(IServiceProvider services, NodeOptions options, DataPathService dataPath)
    {
        var system = services.GetRequiredService<ActorSystem>();
        var bookmarks = services.GetRequiredService<GroupBookmarks>();
        var logs = services.GetRequiredService<ILoggerFactory>();
        var log = logs.CreateLogger("SiteRecovery.GroupSchedule");
        var (groupPoints, check) = DataPathSettings.GroupSchedule(options.DataPath);
        system.ActorOf(GroupPointScheduler.Props(async due =>
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
        }, check, groupPoints, () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), m => log.LogInformation("{Message}", m),
            windows => dataPath.Target?.SetRetentionWindows(windows)), "group-points");
    }
}
