using Akka.Hosting;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.Failover;

namespace SiteRecovery.Actors.Hosting;

/// <summary>How the group point scheduler reaches the node it runs on.</summary>
/// <param name="Take">Takes one due group bookmark through the node's group-bookmark service and says what it came to.</param>
/// <param name="RetentionWindows">Hands each member machine's retention window to the node's master target.</param>
/// <param name="Log">Where each outcome is logged.</param>
public sealed record GroupPointPaths(
    Func<DueGroupBookmark, Task<string>> Take, Action<IReadOnlyDictionary<string, TimeSpan>> RetentionWindows, Action<string> Log);

/// <summary>How the drill scheduler reaches the node it runs on.</summary>
/// <param name="Start">Starts one due drill (the node's own failover start) and says whether it started.</param>
/// <param name="Log">Where each outcome is logged.</param>
public sealed record DrillPaths(Func<DueDrill, Task<DrillStartResult>> Start, Action<string> Log);

public static class SchedulingExtensions
{
    /// <summary>
    /// Starts the <see cref="GroupPointScheduler"/> (actor <c>group-points</c>, not registered: nothing asks it) once the
    /// host has started. <paramref name="paths"/> is called then, so it may resolve services that start after Akka.
    /// </summary>
    /// <param name="check">How often the group schedule is checked.</param>
    /// <param name="crashConsistentEvery">How often a multi-VM group takes a crash-consistent point; null for never.</param>
    public static AkkaConfigurationBuilder AddGroupPointScheduler(this AkkaConfigurationBuilder b, TimeSpan check, TimeSpan? crashConsistentEvery,
        Func<GroupPointPaths> paths)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(paths);
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, _, resolver) => HostStart.AfterHostStarted(resolver, "the group point scheduler", () =>
        {
            var p = paths();
            system.ActorOf(GroupPointScheduler.Props(p.Take, check, crashConsistentEvery, () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                p.Log, p.RetentionWindows), "group-points");
        }));
    }

    /// <summary>
    /// Starts the <see cref="DrillScheduler"/> (actor <c>drill-scheduler</c>, not registered) once the host has started:
    /// a drill is started through the node's own API, which answers only then. <paramref name="paths"/> is called then.
    /// </summary>
    /// <param name="check">How often the plans' drill schedules are checked.</param>
    /// <param name="minimumEvery">The shortest drill interval a plan is held to.</param>
    public static AkkaConfigurationBuilder AddDrillScheduler(this AkkaConfigurationBuilder b, TimeSpan check, TimeSpan minimumEvery, Func<DrillPaths> paths)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(paths);
        b.AddSiteRecoverySerialization();
        return b.WithActors((system, _, resolver) => HostStart.AfterHostStarted(resolver, "the drill scheduler", () =>
        {
            var p = paths();
            system.ActorOf(DrillScheduler.Props(p.Start, check, minimumEvery, () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), p.Log),
                "drill-scheduler");
        }));
    }
}
