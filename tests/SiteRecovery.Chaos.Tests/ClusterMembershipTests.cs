using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The node's Akka.Cluster membership on real srnode processes: a node alone joins itself, a node given a seed joins it,
/// srctl lists and ends memberships, and a node that leaves stops and exits.
/// </summary>
public sealed class ClusterMembershipTests
{
    static string Srctl => Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    static async Task<JsonNode> MembersAsync(Node node)
    {
        var r = await node.Api.GetAsync("api/cluster/members");
        Assert.True(r.Status == HttpStatusCode.OK, $"GET /api/cluster/members on {node.Id}: {(int)r.Status} {r.Text}\n{node.Logs()}");
        return r.Body!;
    }

    static JsonNode Self(JsonNode members) => members["members"]!.AsArray().Single(m => m!["self"]!.GetValue<bool>())!;

    static string[] Roles(JsonNode member) => member["roles"]!.AsArray().Select(r => r!.GetValue<string>()).ToArray();

    /// <summary><c>srctl cluster members --json</c> against <paramref name="node"/>, until <paramref name="done"/> holds.</summary>
    static async Task<JsonNode> SrctlMembersUntilAsync(Node node, Func<JsonNode, bool> done, string what, Func<string> logs)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            var run = await ExternalTool.RunAsync("dotnet", [Srctl, "cluster", "members", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
            last = run.Output;
            if (run.ExitCode == 0 && JsonNode.Parse(run.StdOut) is { } members && done(members)) return members;
            await Task.Delay(300);
        }
        throw new TimeoutException($"{what}: srctl cluster members on {node.Id} last said:\n{last}\n{logs()}");
    }

    [Fact]
    public async Task A_node_alone_joins_itself_up_with_its_roles_and_after_a_kill_forms_a_fresh_cluster_on_the_same_data()
    {
        using var dir = new TempDir("cluster-one");
        using var node = new Node("solo", "configuration,master-target", dir["n"], dir.Path);
        await node.StartAsync();

        // Joining is asynchronous to the API coming up: Up within a few seconds of it.
        async Task<JsonNode> UpAsync()
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (true)
            {
                var m = await MembersAsync(node);
                if (m["members"]!.AsArray() is [{ } only] && only["status"]!.GetValue<string>() == "up") return m;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"node {node.Id} is not one Up member: {m}\n{node.Logs()}");
                await Task.Delay(200);
            }
        }
        var first = await UpAsync();
        var me = Self(first);
        Assert.Equal(["api", "configuration", "master-target"], Roles(me));
        Assert.True(me["leader"]!.GetValue<bool>() && me["oldest"]!.GetValue<bool>() && me["reachable"]!.GetValue<bool>(), $"{me}");
        Assert.StartsWith("akka.tcp://siterecovery@127.0.0.1:", me["address"]!.GetValue<string>());
        Assert.Equal(me["address"]!.GetValue<string>(), first["leader"]!.GetValue<string>());
        Assert.Equal("keep-majority", first["splitBrainResolver"]!["strategy"]!.GetValue<string>());

        // A down or leave that names no member changes nothing and says why; each is an audit entry like any change.
        using var events = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var streamCts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var opened = await events.SendAsync(node.Api.Request(HttpMethod.Get, node.ApiUrl + "/api/events"), HttpCompletionOption.ResponseHeadersRead, streamCts.Token);
        var streamed = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            using var r = new StreamReader(await opened.Content.ReadAsStreamAsync(streamCts.Token));
            try { while (await r.ReadLineAsync(streamCts.Token) is { } line) lock (streamed) streamed.AppendLine(line); }
            catch (Exception e) when (e is OperationCanceledException or IOException) { }
        });
        var unknown = await node.Api.PostAsync("api/cluster/down", new { address = "127.0.0.1:1" });
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("no cluster member at 127.0.0.1:1", unknown.Error);
        var bad = await node.Api.PostAsync("api/cluster/leave", new { address = "not an address" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Contains("'not an address' is not a cluster address", bad.Error);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        bool Audited() { lock (streamed) return streamed.ToString().Split('\n').Any(l => l.Contains("ApiCallAudited") && l.Contains("/api/cluster/down") && l.Contains("\"status\":404")); }
        while (DateTime.UtcNow < deadline && !Audited()) await Task.Delay(200);
        Assert.True(Audited(), $"no audit entry for the refused down:\n{streamed}");
        streamCts.Cancel();
        await reading;
        Assert.Equal("up", Self(await MembersAsync(node))["status"]!.GetValue<string>());

        // SIGKILL leaves no one to say goodbye to: the restart on the same data directory is a fresh one-node cluster.
        node.Kill9();
        await node.StartAsync();
        var again = Self(await UpAsync());
        Assert.NotEqual(me["address"]!.GetValue<string>(), again["address"]!.GetValue<string>());
        Assert.Equal(["api", "configuration", "master-target"], Roles(again));
    }

    [Fact]
    public async Task A_seeded_node_joins_the_first_both_list_two_up_members_and_the_second_leaves_and_exits_0_and_downed_exits_3()
    {
        using var dir = new TempDir("cluster-two");
        using var first = new Node("c1", "all", dir["c1"], dir.Path);
        await first.StartAsync();
        var seed = Self(await MembersAsync(first))["endpoint"]!.GetValue<string>();
        using var second = new Node("c2", "master-target", dir["c2"], dir.Path, null, "--cluster-seed", seed);
        await second.StartAsync();
        string Logs() => first.Logs(60) + "\n" + second.Logs(60);

        static bool TwoUp(JsonNode m) => m["members"]!.AsArray() is { Count: 2 } all && all.All(x => x!["status"]!.GetValue<string>() == "up");
        var fromFirst = await SrctlMembersUntilAsync(first, TwoUp, "two Up members", Logs);
        var fromSecond = await SrctlMembersUntilAsync(second, TwoUp, "two Up members", Logs);
        var secondAddress = Self(fromSecond)["endpoint"]!.GetValue<string>();
        Assert.Equal(seed, Self(fromFirst)["endpoint"]!.GetValue<string>());
        Assert.Equal(["api", "master-target"], Roles(fromFirst["members"]!.AsArray().Single(m => m!["endpoint"]!.GetValue<string>() == secondAddress)!));
        Assert.Equal(fromFirst["leader"]!.GetValue<string>(), fromSecond["leader"]!.GetValue<string>());
        // The first member up is the oldest, whichever node is asked.
        Assert.Equal(Self(fromFirst)["address"]!.GetValue<string>(), fromSecond["oldest"]!.GetValue<string>());

        var table = await ExternalTool.RunOkAsync("dotnet", [Srctl, "cluster", "members", "--api", first.ApiUrl, "--token-file", first.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.Contains(seed, table.StdOut);
        Assert.Contains(secondAddress, table.StdOut);
        Assert.Contains("oldest", table.StdOut);
        Assert.Contains("keep-majority", table.StdOut);

        var unknown = await ExternalTool.RunAsync("dotnet", [Srctl, "cluster", "down", "127.0.0.1:1", "--api", first.ApiUrl, "--token-file", first.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("no cluster member at 127.0.0.1:1", unknown.Output);
        Assert.True(TwoUp(await MembersAsync(first)), Logs());

        // The second leaves, asked through the first: it stops its data path and exits 0; the first goes on alone.
        await ExternalTool.RunOkAsync("dotnet", [Srctl, "cluster", "leave", secondAddress, "--api", first.ApiUrl, "--token-file", first.AdminTokenFile], TimeSpan.FromMinutes(1));
        var exit = await second.Process!.WaitForExitAsync(TimeSpan.FromSeconds(40));
        Assert.True(exit == 0, $"the node that left exited with {exit}\n{second.Logs(80)}");
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await second.Process.WaitForLineAsync(l => l.Contains("left the cluster: its data path stops and the process exits", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "left the cluster: its data path stops and the process exits");
        var alone = await SrctlMembersUntilAsync(first, m => m["members"]!.AsArray().Count == 1, "the first alone", Logs);
        Assert.Equal("up", Self(alone)["status"]!.GetValue<string>());

        // Started again on its data it joins again; downed, it stops the same way but exits 3, for a supervisor to restart it.
        await second.StartAsync();
        var back = await SrctlMembersUntilAsync(first, TwoUp, "the second back", Logs);
        var again = back["members"]!.AsArray().Single(m => !m!["self"]!.GetValue<bool>())!["endpoint"]!.GetValue<string>();
        await ExternalTool.RunOkAsync("dotnet", [Srctl, "cluster", "down", again, "--api", first.ApiUrl, "--token-file", first.AdminTokenFile], TimeSpan.FromMinutes(1));
        var downed = await second.Process!.WaitForExitAsync(TimeSpan.FromSeconds(40));
        Assert.True(downed == 3, $"the downed node exited with {downed}\n{second.Logs(80)}");
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await second.Process.WaitForLineAsync(l => l.Contains("was downed by the cluster", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "was downed by the cluster");
        await SrctlMembersUntilAsync(first, m => m["members"]!.AsArray().Count == 1, "the first alone after the down", Logs);
    }
}
