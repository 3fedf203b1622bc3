using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;
using Xunit.Abstractions;
using static SiteRecovery.Chaos.Tests.FailoverTests;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A real drill proves its isolation with its guests' own packets: two machines of one plan, each with a static address
/// on one failover network, boot in their test failover's isolated network; each guest pings and sends a TCP hello to
/// the other and to the outside address (host 1 of their /24, <c>drill-outside-host</c>). The drill report lists every
/// probe and passes. Then the same drill with its isolation broken on purpose: a stand-in holding the outside address
/// joins the drill's bridge, so the guests reach it, and the report fails naming each machine ("not isolated").
/// Four boots.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DrillIsolationTests(ITestOutputHelper output)
{
    static readonly string Srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    [Fact]
    public async Task A_drill_proves_with_its_guests_packets_that_they_reach_each_other_and_not_outside_and_fails_naming_the_machine_when_they_do()
    {
        using var dir = new TempDir("drill-isolation");
        var (node, machines) = await SiteWithSettingsAsync(dir, 0, "", "vm1", "vm2");
        using var _ = node;
        // 198.18.0.0/15 (benchmarking) is routed nowhere on a real host; a random /24 of it keeps parallel runs apart.
        var subnet = $"198.18.{RandomNumberGenerator.GetInt32(256)}";
        var address = new Dictionary<string, string> { ["vm1"] = $"{subnet}.11", ["vm2"] = $"{subnet}.12" };
        var outside = $"{subnet}.1";
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var (standIn, standInInner, standInOnBridge) = ($"srdi-{id}", $"srd{id}i", $"srd{id}b");
        string? brokenNs = null;
        var jobs = new List<string>();
        try
        {
            foreach (var m in machines)
            {
                var discovered = await node.Api.PostAsync("api/machines", new
                {
                    machineId = m.Id,
                    properties = new
                    {
                        name = m.Id, os = "Linux", disks = new[] { new { diskId = m.Disk, sizeBytes = 64L << 20 } }, bootType = "Bios", clustered = false,
                        hasBitLockerVolumes = false, failoverName = m.Id, failoverVmSize = "Standard_D2s_v3", failoverNetwork = "drill-net", staticAddress = address[m.Id],
                    },
                });
                Assert.True(discovered.Status == HttpStatusCode.OK, discovered.Text);
            }
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "pair", vault = "drills", groups = new[] { new { machines = new[] { "vm1", "vm2" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);

            // An isolated drill: each guest reaches its peer, nothing reaches the outside address.
            var job = await DrillAsync(node, "pair", jobs);
            var report = job["report"]!;
            output.WriteLine(report.ToJsonString());
            Assert.True(report["passed"]!.GetValue<bool>(), report.ToJsonString());
            foreach (var m in machines)
            {
                var peer = m.Id == "vm1" ? "vm2" : "vm1";
                var isolation = Machine(report, m.Id)["isolation"] ?? throw new Xunit.Sdk.XunitException($"the report shows no isolation evidence for {m.Id}");
                Assert.True(isolation["probed"]!.GetValue<bool>(), isolation.ToJsonString());
                Assert.Null(isolation["failure"]);
                var probes = isolation["probes"]!.AsArray();
                Assert.Equal([$"Peer {peer} {address[peer]} ping=true tcp=true heard=true", $"Outside  {outside} ping=false tcp=false heard="],
                    probes.Select(p => $"{p!["role"]} {p["peerMachineId"]} {p["address"]} ping={p["pingAnswered"]} tcp={p["tcpSent"]} heard={p["heardByPeer"]}"));
            }
            // srctl shows the same: the table's probe rows, and --json the report as the API gives it.
            var table = await ExternalTool.RunAsync("dotnet", [Srctl, "drill", "report", JobId(job), "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
            output.WriteLine(table.StdOut);
            Assert.True(table.ExitCode == 0, BoundedProcess.Quote(table, 2000));
            // (At the 80 columns of a redirected console Spectre wraps long cells: only short words are looked for.)
            Assert.Contains("proved", table.StdOut);
            Assert.Contains("peer vm2", table.StdOut);
            Assert.Contains("outside", table.StdOut);
            var json = await ExternalTool.RunAsync("dotnet", [Srctl, "drill", "report", JobId(job), "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
            Assert.True(json.ExitCode == 0, BoundedProcess.Quote(json, 2000));
            Assert.Equal(Machine(report, "vm1")["isolation"]!.ToJsonString(), Machine(JsonNode.Parse(json.StdOut)!, "vm1")["isolation"]!.ToJsonString());
            await CleanupAsync(node, JobId(job));

            // Isolation broken on purpose: once the drill's network exists, a stand-in holding the outside address joins
            // its bridge (as a bridged uplink or an addressed bridge would put that address there). The guests' pings retry
            // for 30 s after their boot, so they find it.
            var start = await node.Api.PostAsync("api/failovers", new { plan = "pair", kind = "test" });
            Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
            var broken = start.Body!["jobId"]!.GetValue<string>();
            jobs.Add(broken);
            brokenNs = IsolatedNetwork.NamespaceName(broken);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (!File.Exists(Path.Combine(IsolatedNetwork.NetnsDirectory, brokenNs)))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the drill {broken} made no network namespace {brokenNs}\n{node.Logs(60)}");
                await Task.Delay(50);
            }
            await IpOk("link", "add", standInOnBridge, "type", "veth", "peer", "name", standInInner);
            await IpOk("netns", "add", standIn);
            await IpOk("link", "set", "dev", standInInner, "netns", standIn);
            await IsolatedNetwork.AttachAsync(standInOnBridge, brokenNs, CancellationToken.None);
            await IpOk("-n", standIn, "addr", "add", $"{outside}/24", "dev", standInInner);
            await IpOk("-n", standIn, "link", "set", "dev", standInInner, "up");

            var failed = await UntilAsync(node, broken, j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(6));
            var brokenReport = failed["report"]!;
            output.WriteLine(brokenReport.ToJsonString());
            Assert.False(brokenReport["passed"]!.GetValue<bool>(), brokenReport.ToJsonString());
            foreach (var m in machines)
            {
                Assert.Contains($"not isolated: machine {m.Id} reached {outside} (outside: ping answered", brokenReport["failure"]!.GetValue<string>());
                var drill = Machine(brokenReport, m.Id);
                Assert.False(drill["passed"]!.GetValue<bool>());
                var probe = drill["isolation"]!["probes"]!.AsArray().Single(p => p!["role"]!.GetValue<string>() == "Outside")!;
                Assert.True(probe["pingAnswered"]!.GetValue<bool>(), probe.ToJsonString());
            }
            var failing = await ExternalTool.RunAsync("dotnet", [Srctl, "drill", "report", broken, "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
            output.WriteLine(failing.StdOut);
            Assert.Equal(1, failing.ExitCode);
            Assert.Contains("not isolated", failing.StdOut);

            // The stand-in leaves first: the product deletes a namespace only once nothing but its machines was in it.
            await IpOk("-n", brokenNs, "link", "del", "dev", standInOnBridge);
            await CleanupAsync(node, broken);
            Assert.False(File.Exists(Path.Combine(IsolatedNetwork.NetnsDirectory, brokenNs)), $"network namespace {brokenNs} left after the cleanup");
        }
        finally
        {
            if (brokenNs is not null && File.Exists(Path.Combine(IsolatedNetwork.NetnsDirectory, brokenNs)))
                await ExternalTool.RunAsync("ip", ["-n", brokenNs, "link", "del", "dev", standInOnBridge], TimeSpan.FromSeconds(15));
            // A failed run still stops its drills' machines (qemu outlives the node) and their namespaces; a cleaned-up job ignores it.
            foreach (var job in jobs)
                try { await node.Api.PostAsync($"api/failovers/{job}/cleanup", new { reason = "test over" }); await UntilAsync(node, job, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1)); }
                catch (Exception e) when (e is TimeoutException or HttpRequestException or Xunit.Sdk.XunitException) { output.WriteLine($"cleanup of {job}: {e.Message}"); }
            foreach (var m in machines) m.Agent.Dispose();
            if (File.Exists(Path.Combine(IsolatedNetwork.NetnsDirectory, standIn))) await ExternalTool.RunAsync("ip", ["netns", "del", standIn], TimeSpan.FromSeconds(15));
        }
    }

    static async Task<JsonNode> DrillAsync(Node node, string plan, List<string> jobs)
    {
        var start = await node.Api.PostAsync("api/failovers", new { plan, kind = "test" });
        Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
        jobs.Add(start.Body!["jobId"]!.GetValue<string>());
        var done = await UntilAsync(node, jobs[^1], j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(6));
        Assert.True(Status(done) == "Completed", done.ToJsonString());
        return done;
    }

    static async Task CleanupAsync(Node node, string job)
    {
        var cleanup = await node.Api.PostAsync($"api/failovers/{job}/cleanup", new { reason = "drill over" });
        Assert.True(cleanup.Status == HttpStatusCode.OK, cleanup.Text);
        await UntilAsync(node, job, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
    }

    static string JobId(JsonNode job) => job["jobId"]!.GetValue<string>();

    static JsonNode Machine(JsonNode report, string id) => report["machines"]!.AsArray().Single(x => x!["machineId"]!.GetValue<string>() == id)!;

    static async Task IpOk(params string[] args)
    {
        var run = await ExternalTool.RunAsync("ip", args, TimeSpan.FromSeconds(15));
        Assert.True(run.ExitCode == 0, $"ip {string.Join(' ', args)}: got exit {run.ExitCode}: {BoundedProcess.Quote(run, 300)}, want exit 0");
    }
}
