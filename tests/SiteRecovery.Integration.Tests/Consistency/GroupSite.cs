using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using Akka.Streams;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Agent;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Consistency;

/// <summary>A master target, a process server and several agents in this process, on loopback, with a coordinator over them.</summary>
public sealed class GroupSite : IAsyncDisposable, IDataPathEvents
{
    public required string Root { get; init; }
    public required ActorSystem System { get; init; }
    public MasterTargetServer Target { get; private set; } = null!;
    public ProcessServer Process { get; private set; } = null!;
    public List<MobilityAgent> Agents { get; } = [];
    public ConsistencyCoordinator Coordinator { get; private set; } = null!;
    /// <summary>
    /// The coordinator's path to the agents: the master target's, over the process server's control connection to it
    /// (as with split roles), or straight into the process server's routing (as on the all-in-one node).
    /// </summary>
    public IGroupBookmarkPath AgentPath { get; private set; } = null!;
    /// <summary>Points the coordinator recorded (what the node tells the disk actors).</summary>
    public ConcurrentQueue<RecordRecoveryPoint> Recorded { get; } = new();
    /// <summary>Points the master target reported by itself (single-machine bookmarks).</summary>
    public ConcurrentQueue<(string Disk, string Bookmark, long Sequence)> Reported { get; } = new();
    public ConcurrentQueue<string> Log { get; } = new();

    public static async Task<GroupSite> StartAsync(string name, int agents, int disksPerAgent, long sizeBytes = 4L << 20, bool inProcess = false)
    {
        var root = Tools.TempDirectory(name);
        var site = new GroupSite { Root = root, System = ActorSystem.Create("group-" + Guid.NewGuid().ToString("n")[..8]) };
        var mtDir = Path.Combine(root, "mt");
        site.Target = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), mtDir),
            new LocalFileReplicaStoreFactory(Path.Combine(mtDir, "replicas"), "mt-1"), site, site.Log.Enqueue);
        await site.Target.StartAsync();
        site.Process = new ProcessServer(new ProcessServerOptions("ps-1", new IPEndPoint(IPAddress.Loopback, 0), Path.Combine(root, "ps-cache"), site.Target.BoundEndpoint!),
            site.System.Materializer(), site.Log.Enqueue);
        await site.Process.StartAsync();
        site.AgentPath = inProcess ? new InProcessGroupBookmarkPath(site.Target, () => site.Process) : site.Target;
        site.Coordinator = new ConsistencyCoordinator(site.AgentPath, site.Recorded.Enqueue, site.Log.Enqueue);
        for (var a = 1; a <= agents; a++)
        {
            var disks = new List<AgentDisk>();
            for (var d = 1; d <= disksPerAgent; d++)
            {
                var path = Path.Combine(root, $"vm{a}-d{d}.img");
                await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(sizeBytes);
                disks.Add(new AgentDisk($"vm{a}-d{d}", path));
            }
            var agent = new MobilityAgent(new AgentOptions($"vm{a}", disks, new IPEndPoint(IPAddress.Loopback, 0), site.Process.BoundEndpoint!, Path.Combine(root, $"agent{a}")) { DrainTimeout = TimeSpan.FromSeconds(5) }, site.Log.Enqueue);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await agent.StartAsync(cts.Token);
            site.Agents.Add(agent);
        }
        await site.WaitConnectedAsync(site.Agents.Select(a => a.Exports.Count).Sum(), TimeSpan.FromSeconds(60));
        return site;
    }

    /// <summary>Waits until the master target sees <paramref name="disks"/> disks with a live path and every resync is over.</summary>
    public async Task WaitConnectedAsync(int disks, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Target.DisksByMachine.Values.Sum(d => d.Count) < disks || Agents.Any(a => a.Client!.ResyncsRunning > 0))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"only {Target.DisksByMachine.Values.Sum(d => d.Count)} of {disks} disks connected\n{string.Join("\n", Log.TakeLast(20))}");
            await Task.Delay(20);
        }
    }

    public ReplicatedExportRef Disk(int agent, int disk) => new(Agents[agent - 1].Exports[disk - 1]);

    public Task<GroupBookmarkResult> BookmarkAsync(string name, IEnumerable<string> machines, bool app = false, int timeoutMs = 10_000)
        => Coordinator.BookmarkAsync(new GroupBookmarkRequest("g1", name, machines.ToList(), app, TimeSpan.FromMilliseconds(timeoutMs)), CancellationToken.None);

    bool _processStopped;

    /// <summary>Stops the process server: every agent loses its only connection.</summary>
    public async Task StopProcessServerAsync()
    {
        _processStopped = true;
        await Process.DisposeAsync();
    }

    public string Logs() => string.Join("\n", Log.TakeLast(40));

    void IDataPathEvents.DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
    Task<bool> IDataPathEvents.RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs)
    {
        Reported.Enqueue((diskId, bookmarkId, sequence));
        return Task.FromResult(true);
    }
    void IDataPathEvents.ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
    void IDataPathEvents.Resync(ResyncNotice notice) { }

    public async ValueTask DisposeAsync()
    {
        foreach (var a in Agents) await a.DisposeAsync();
        if (!_processStopped) await Process.DisposeAsync();
        await Target.DisposeAsync();
        await System.Terminate();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Writes straight to an agent's export, as an NBD client would (applied, numbered, then returned).</summary>
public readonly record struct ReplicatedExportRef(SiteRecovery.Agent.Replication.ReplicatedExport Export)
{
    public Task WriteAsync(long offset, byte value, int length = 4096)
    {
        var data = new byte[length];
        Array.Fill(data, value);
        return Export.WriteAsync(offset, data, false, CancellationToken.None).AsTask();
    }

    public long LastSequence => Export.Stream.LastSequence;
}
