using System.Net;
using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>
/// N srnode and M sragent processes on the harness's one launcher (<see cref="Node"/>, <see cref="Agent"/>): node 0 is the
/// configuration and master target node, nodes 1..N-1 are process servers, agent i (one disk each) sends to process
/// server <c>1 + i mod (N-1)</c>. Every agent→process-server and process-server→master-target link goes through a
/// <see cref="FaultProxy"/>, so a partition between two processes is the proxy cutting and refusing their link. The
/// agents and the process-server nodes do not register, so every node's data path is <c>optional</c>
/// (<see cref="Node.DataPathTls"/>): the harness measures loss and order under faults, not TLS.
/// </summary>
public sealed class ChaosCluster : IAsyncDisposable
{
    public required TempDir Dir { get; init; }
    public required IReadOnlyList<Node> Nodes { get; init; }
    public required IReadOnlyList<Agent> Agents { get; init; }
    /// <summary>The disk of agent i, its path, and the agent.</summary>
    public required IReadOnlyList<(string Disk, string Path, Agent Agent)> Disks { get; init; }
    /// <summary>The links a partition can cut: (from, to, proxy).</summary>
    public required IReadOnlyList<(string From, string To, FaultProxy Proxy)> Links { get; init; }

    public Node Configuration => Nodes[0];

    public static async Task<ChaosCluster> StartAsync(string name, int nodes, int agents, long diskSize, int seed)
    {
        if (nodes < 2) throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "the harness needs a master target node and at least one process server node");
        if (agents < 1) throw new ArgumentOutOfRangeException(nameof(agents), agents, "the harness needs at least one agent");
        var dir = new TempDir(name);
        var links = new List<(string, string, FaultProxy)>();
        var nodeList = new List<Node>();
        var agentList = new List<Agent>();
        var disks = new List<(string, string, Agent)>();
        var a = new Node("n0", "configuration,master-target", dir["n0"], dir.Path);
        nodeList.Add(a);
        for (var i = 1; i < nodes; i++)
        {
            var toMt = FaultProxy.StartRaw(a.MtPort);
            var ps = new Node($"n{i}", "process-server", dir[$"n{i}"], dir.Path, masterTarget: $"127.0.0.1:{toMt.Port}");
            links.Add((ps.Id, a.Id, toMt));
            nodeList.Add(ps);
        }
        for (var i = 0; i < agents; i++)
        {
            var ps = nodeList[1 + i % (nodes - 1)];
            var toPs = FaultProxy.StartRaw(ps.PsPort);
            var disk = $"vm{i}-disk";
            var path = dir[$"{disk}.img"];
            Files.CreateDisk(path, diskSize, seed + i);
            var agent = new Agent($"vm{i}", new Dictionary<string, string> { [disk] = path }, $"127.0.0.1:{toPs.Port}", dir[$"vm{i}"], dir.Path);
            links.Add((agent.Id, ps.Id, toPs));
            agentList.Add(agent);
            disks.Add((disk, path, agent));
        }
        var cluster = new ChaosCluster { Dir = dir, Nodes = nodeList, Agents = agentList, Disks = disks, Links = links };
        try
        {
            foreach (var n in nodeList) await n.StartAsync(TimeSpan.FromMinutes(2));
            foreach (var ag in agentList) await ag.StartAsync(TimeSpan.FromMinutes(2));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    public static EndPoint ExportOf(Agent agent) => new IPEndPoint(IPAddress.Loopback, agent.NbdPort);

    public string Logs(int lines = 40) =>
        string.Join('\n', Nodes.Select(n => n.Logs(lines)).Concat(Agents.Select(a => a.Logs(lines))));

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in Agents) agent.Dispose();
        foreach (var node in Nodes.Reverse()) node.Dispose();
        foreach (var (_, _, proxy) in Links) await proxy.DisposeAsync();
        Dir.Dispose();
    }
}
