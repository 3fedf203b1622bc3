using System.Net;
using Akka.Actor;
using Akka.Streams;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Agent;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Tests.Support;

/// <summary>A master target, a process server and an agent in this process, on loopback.</summary>
public sealed class Site : IAsyncDisposable
{
    public required string Root { get; init; }
    public required ActorSystem System { get; init; }
    public MasterTargetServer Target { get; private set; } = null!;
    public ProcessServer Process { get; private set; } = null!;
    public MobilityAgent Agent { get; private set; } = null!;
    public List<string> Log { get; } = [];
    public IPEndPoint? TargetEndpoint { get; private set; }
    public IPEndPoint? ProcessEndpoint { get; private set; }
    public string[] DiskPaths { get; private set; } = [];

    void Add(string m) { lock (Log) Log.Add(m); }

    public static async Task<Site> StartAsync(string name, int disks, long sizeBytes, Action<string, FileStream>? seed = null, Action<Site>? configure = null)
    {
        var root = Tools.TempDirectory(name);
        var site = new Site { Root = root, System = ActorSystem.Create("site-" + Guid.NewGuid().ToString("n")[..8]) };
        configure?.Invoke(site);
        site.DiskPaths = Enumerable.Range(1, disks).Select(i => Path.Combine(root, $"disk{i}.img")).ToArray();
        foreach (var p in site.DiskPaths)
        {
            using var f = new FileStream(p, FileMode.Create);
            f.SetLength(sizeBytes);
            seed?.Invoke(p, f);
        }
        await site.StartTargetAsync();
        await site.StartProcessServerAsync();
        await site.StartAgentAsync();
        return site;
    }

    /// <summary>A master target and a process server only, for tests that speak the wire protocol themselves.</summary>
    public static async Task<Site> StartServersAsync(string name, Action<Site>? configure = null)
    {
        var site = new Site { Root = Tools.TempDirectory(name), System = ActorSystem.Create("site-" + Guid.NewGuid().ToString("n")[..8]) };
        configure?.Invoke(site);
        await site.StartTargetAsync();
        await site.StartProcessServerAsync();
        return site;
    }

    public IDataPathEvents Events { get; set; } = new NoDataPathEvents();
    public TimeSpan? AutoPoints { get; set; }

    /// <summary>Changes the master target's options before it starts (its data directory holds the replicas too).</summary>
    public Func<MasterTargetOptions, MasterTargetOptions>? ConfigureTarget { get; set; }
    /// <summary>Changes the process server's options before it starts.</summary>
    public Func<ProcessServerOptions, ProcessServerOptions>? ConfigureProcess { get; set; }
    /// <summary>Wraps the master target's replica stores (a test's fault-injecting layer over the real ones).</summary>
    public Func<IReplicaStoreFactory, IReplicaStoreFactory>? WrapReplicas { get; set; }

    public async Task StartTargetAsync()
    {
        var options = new MasterTargetOptions("mt-1", TargetEndpoint ?? new IPEndPoint(IPAddress.Loopback, 0), Path.Combine(Root, "mt")) { AutoRecoveryPointInterval = AutoPoints };
        options = ConfigureTarget?.Invoke(options) ?? options;
        IReplicaStoreFactory replicas = new LocalFileReplicaStoreFactory(Path.Combine(options.DataDirectory, "replicas"), "mt-1");
        Target = new MasterTargetServer(options, WrapReplicas?.Invoke(replicas) ?? replicas, Events, Add);
        await Target.StartAsync();
        TargetEndpoint = Target.BoundEndpoint;
    }

    public async Task StartProcessServerAsync()
    {
        var options = new ProcessServerOptions("ps-1", ProcessEndpoint ?? new IPEndPoint(IPAddress.Loopback, 0), Path.Combine(Root, "ps-cache"), TargetEndpoint!);
        Process = new ProcessServer(ConfigureProcess?.Invoke(options) ?? options, System.Materializer(), Add);
        await Process.StartAsync();
        ProcessEndpoint = Process.BoundEndpoint;
    }

    public long AgentBufferBytes { get; set; } = 64L << 20;
    /// <summary>Changes the agent's options before it starts (hooks, shutdown command).</summary>
    public Func<AgentOptions, AgentOptions>? ConfigureAgent { get; set; }

    public async Task StartAgentAsync()
    {
        var disks = DiskPaths.Select((p, i) => new AgentDisk($"disk{i + 1}", p)).ToList();
        var options = new AgentOptions("agent-1", disks, new IPEndPoint(IPAddress.Loopback, 0), ProcessEndpoint!, Path.Combine(Root, "agent")) { BufferBytesPerDisk = AgentBufferBytes };
        Agent = new MobilityAgent(ConfigureAgent?.Invoke(options) ?? options, Add);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Agent.StartAsync(cts.Token);
    }

    public int NbdPort => ((IPEndPoint)Agent.NbdEndpoint!).Port;
    public string NbdUri(string disk) => $"nbd://127.0.0.1:{NbdPort}/{disk}";

    /// <summary>Waits until the target holds everything the agent has numbered.</summary>
    public async Task CatchUpAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var disks = Target.Disks;
            if (Agent.Exports.All(e => disks.TryGetValue(e.Name, out var d) && d.AppliedThrough >= e.Stream.LastSequence && e.Dirty.Count == 0) && Agent.Client!.ResyncsRunning == 0)
                return;
            await Task.Delay(20);
        }
        throw new TimeoutException("replication did not catch up: " + string.Join("; ", Agent.Exports.Select(e =>
            $"{e.Name} agent #{e.Stream.LastSequence} target #{(Target.Disks.TryGetValue(e.Name, out var d) ? d.AppliedThrough : -1)}")) + "\n" + string.Join("\n", Log.TakeLast(20)));
    }

    public async ValueTask DisposeAsync()
    {
        if (Agent is not null) await Agent.DisposeAsync();
        await Process.DisposeAsync();
        await Target.DisposeAsync();
        await System.Terminate();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
