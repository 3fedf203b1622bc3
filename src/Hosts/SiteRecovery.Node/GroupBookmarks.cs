using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Actors.Control;

namespace SiteRecovery.Node;

/// <summary>
/// The node's consistency coordinator, one per node (a DI singleton, so two nodes hosted in one process never share
/// one): the HTTP endpoints and the group schedule take their group bookmarks through it. Built on first use, once
/// the data path has started its master target.
/// </summary>
public sealed class GroupBookmarks(DataPathService dataPath, ActorRegistry registry, NodeOptions options, ILoggerFactory logs, BookmarkNames names)
{
    readonly object _gate = new();
    ConsistencyCoordinator? _coordinator;

    /// <summary>Write stalls (ms) of the group bookmarks committed since the node started.</summary>
    public IReadOnlyCollection<double> Stalls => Coordinator.Stalls;

    ConsistencyCoordinator Coordinator
    {
        get
        {
            lock (_gate)
            {
                if (_coordinator is not null) return _coordinator;
                var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
                var log = logs.CreateLogger("SiteRecovery.Consistency");
                IActorRef? disks = options.Roles.HasFlag(NodeRoles.Configuration) ? registry.Get<ProtectedDisksRegion>() : null;
                // With the process server in this process, holds skip the loopback connection between it and the master target.
                var path = options.Roles.HasFlag(NodeRoles.ProcessServer) ? new InProcessGroupBookmarkPath(target, () => dataPath.Process) : (IGroupBookmarkPath)target;
                return _coordinator = new ConsistencyCoordinator(path, p => disks?.Tell(p), m => log.LogInformation("{Message}", m));
            }
        }
    }

    /// <summary>
    /// Takes one group bookmark, retrying while a member is still resending regions written while its buffer was full
    /// (no consistent point exists then), within <paramref name="timeout"/>. Throws <see cref="InvalidOperationException"/>
    /// when a member is not connected, as the coordinator does.
    /// </summary>
    public async Task<GroupBookmarkResult> TakeAsync(string groupId, string bookmark, IReadOnlyList<string> machines, bool app, TimeSpan timeout, CancellationToken ct)
    {
        var coordinator = Coordinator;
        var deadline = DateTime.UtcNow + timeout;
        // The name is reserved on every member disk before any hold: a used name is refused with nothing inserted.
        var connected = dataPath.Target!.DisksByMachine;
        using var reservation = await names.ReserveAsync(bookmark, machines.Where(connected.ContainsKey).SelectMany(m => connected[m]), timeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var result = await coordinator.BookmarkAsync(new GroupBookmarkRequest(groupId, bookmark, machines, app, left > TimeSpan.FromMilliseconds(10) ? left : TimeSpan.FromMilliseconds(10)), ct);
            var retry = result is { Outcome: GroupBookmarkOutcome.Aborted, Retryable: true };
            if (!retry || DateTime.UtcNow + TimeSpan.FromMilliseconds(100) >= deadline) return result;
            await Task.Delay(100, ct);
        }
    }
}
