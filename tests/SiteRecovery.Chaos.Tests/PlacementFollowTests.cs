using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A registered agent started without <c>--process-server</c> follows the configuration server's placement. Real
/// processes: a configuration node that places on a data node's process server (<c>siterecovery.data-path.placement</c>),
/// the data node registered and requiring TLS, an agent registered with <c>sragent register</c>. Before its machine is
/// placed the agent serves NBD and captures, saying why in its log; once the operator enables protection it connects to
/// the placed process server (pinned to its id), compares, and a bookmark recovers the source byte for byte. Its
/// certificate reads its own machine's placement only; an agent with neither a process server nor an enrollment is
/// refused naming both ways.
/// </summary>
public sealed class PlacementFollowTests
{
    const string Disk = "disk1";

    [Fact]
    public async Task An_agent_without_process_server_captures_until_placed_then_replicates_where_placement_chose()
    {
        using var dir = new TempDir("placement-follow");
        var cfgConf = dir["cfg.hocon"];
        var cfg = new Node("cfg", "configuration", dir["cfg"], dir.Path, null, "--config", cfgConf);
        using var site = new TlsSite { Config = cfg, PassphraseFile = dir["passphrase.txt"] };
        var data = site.DataNode(dir, "d", "process-server,master-target");
        File.WriteAllText(cfgConf, $"siterecovery.data-path.placement {{ process-servers {{ d-ps = \"{data.PsAddress}\" }}\n master-targets = [d-mt] }}\n");
        await cfg.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await cfg.Api.PostAsync("/api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var key = (await cfg.Api.PostAsync("/api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        var passphrase = (await cfg.Api.PostAsync("/api/configuration-servers",
            new { id = "cs1", registrationKey = key, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } })).Body!["passphrase"]!.GetValue<string>();
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(site.PassphraseFile);
        File.WriteAllText(site.PassphraseFile, passphrase);
        await data.StartAsync(TimeSpan.FromSeconds(90));

        // Neither a process server nor an enrollment: refused, naming both ways.
        var source = dir["vm1.img"];
        Files.CreateDisk(source, 32L << 20, seed: 15);
        var nbdPort = Net.FreePort();
        var bare = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--id", "vm1", "--disk", $"{Disk}={source}", "--nbd", $"127.0.0.1:{nbdPort}",
            "--state-dir", dir["unregistered"]], TimeSpan.FromMinutes(1));
        Assert.Equal(2, bare.ExitCode);
        Assert.Contains("give --process-server HOST:PORT", bare.StdErr);
        Assert.Contains("register the agent (sragent register", bare.StdErr);

        await site.RegisterAgentAsync("vm1", dir["agent"]);
        using var agent = HostProcess.Start("sragent-vm1", Repo.AgentDll, ["run", "--id", "vm1", "--disk", $"{Disk}={source}", "--nbd", $"127.0.0.1:{nbdPort}",
            "--state-dir", dir["agent"], "--placement-check-interval", "1", "--json"], dir.Path);
        await agent.WaitForLineAsync(l => l.Contains("\"ready\"", StringComparison.Ordinal), TimeSpan.FromSeconds(90), "ready line");
        await agent.WaitForLineAsync(l => l.Contains("capturing: waiting for a placement (machine vm1 is not discovered", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the agent saying it waits for a placement");
        var uri = $"nbd://127.0.0.1:{nbdPort}/{Disk}";
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x3c 5M 2M"], TimeSpan.FromMinutes(1));

        // Its certificate is vm1's: another machine's placement is refused with the reason.
        var other = await AskPlacementAsync(cfg, dir["agent"], "vm1", "vm2");
        Assert.True(other.StatusCode == HttpStatusCode.Forbidden, await other.Content.ReadAsStringAsync());
        Assert.Contains("may read machine vm1's placement only, not machine vm2's", await other.Content.ReadAsStringAsync());
        var own = await AskPlacementAsync(cfg, dir["agent"], "vm1", "vm1");
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.False(JsonNode.Parse(await own.Content.ReadAsStringAsync())!["placed"]!.GetValue<bool>());

        // The operator protects vm1; placement chooses the data node's process server, and the agent follows.
        var discovered = await cfg.Api.PostAsync("api/machines", new
        {
            machineId = "vm1",
            properties = new
            {
                name = "vm1", os = "Linux", disks = new[] { new { diskId = Disk, sizeBytes = 32L << 20 } }, bootType = "Bios", clustered = false,
                hasBitLockerVolumes = false, failoverName = "vm1", failoverVmSize = "Standard_D2s_v3", failoverNetwork = "vnet1",
            },
        });
        Assert.True(discovered.Status == HttpStatusCode.OK, discovered.Text);
        var enabled = await cfg.Api.PostAsync("api/machines/vm1/enable", new { churnMBps = 1, masterTargets = new[] { "d-mt" }, processServers = new[] { "d-ps" } });
        Assert.True(enabled.Status == HttpStatusCode.OK, enabled.Text);
        Assert.Equal("d-ps", enabled.Body!["placement"]!["processServerId"]!.GetValue<string>());
        await agent.WaitForLineAsync(l => l.Contains("placed on process server d-ps at " + data.PsAddress, StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the placement");
        await agent.WaitForLineAsync(l => l.Contains("connected to process server d-ps at " + data.PsAddress, StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the connection");
        await agent.WaitForLineAsync(l => l.Contains("resync-complete", StringComparison.Ordinal),
            TimeSpan.FromSeconds(120), "the compare after the capture");

        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0xa7 20M 1M"], TimeSpan.FromMinutes(1));
        var sequence = await data.BookmarkAsync("placed", [Disk], TimeSpan.FromSeconds(120));
        var output = dir["placed.img"];
        var r = await data.Api.PostAsync("api/recover", new { disk = Disk, sequence, output });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        Assert.Equal(Files.Sha256(source), Files.Sha256(output));
        Assert.Contains(data.Process!.Lines, l => l.Contains("TLS as agent vm1", StringComparison.Ordinal));
        await agent.StopAsync(TimeSpan.FromSeconds(30));

        // --process-server beside an enrollment: the flag wins, and the log says the placement is not asked.
        using var told = HostProcess.Start("sragent-vm1-told", Repo.AgentDll, ["run", "--id", "vm1", "--disk", $"{Disk}={source}", "--nbd", $"127.0.0.1:{nbdPort}",
            "--state-dir", dir["agent"], "--process-server", data.PsAddress, "--json"], dir.Path);
        await told.WaitForLineAsync(l => l.Contains($"--process-server {data.PsAddress} given; the configuration server's placement is not asked", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), "the flag winning over the enrollment");
        await told.WaitForLineAsync(l => l.Contains("\"ready\"", StringComparison.Ordinal), TimeSpan.FromSeconds(90), "ready line");
        Assert.DoesNotContain(told.Lines, l => l.Contains("placed on process server", StringComparison.Ordinal));
        await told.StopAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_process_server_that_knows_the_placements_refuses_a_machine_placed_on_another_and_alerts()
    {
        using var dir = new TempDir("placement-refuse");
        // The configuration node's own process server knows the placements; d2-ps and d2-mt are another node's (not started: only
        // placed on).
        var conf = dir["cfg.hocon"];
        File.WriteAllText(conf, "siterecovery.data-path.placement { process-servers { d2-ps = \"127.0.0.1:9\" }\n master-targets = [d2-mt] }\n");
        using var node = new Node("cfg", "all", dir["cfg"], dir.Path, null, "--config", conf);
        await node.StartAsync(TimeSpan.FromSeconds(90));
        var source = dir["vm2.img"];
        Files.CreateDisk(source, 32L << 20, seed: 16);

        // Not protected yet: the process server serves vm2 as any machine without a placement.
        using var agent = new Agent("vm2", new Dictionary<string, string> { ["disk2"] = source }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("disk2"), "-c", "write -P 0x61 1M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("before", ["disk2"], TimeSpan.FromSeconds(120));

        var discovered = await node.Api.PostAsync("api/machines", new
        {
            machineId = "vm2",
            properties = new
            {
                name = "vm2", os = "Linux", disks = new[] { new { diskId = "disk2", sizeBytes = 32L << 20 } }, bootType = "Bios", clustered = false,
                hasBitLockerVolumes = false, failoverName = "vm2", failoverVmSize = "Standard_D2s_v3", failoverNetwork = "vnet1",
            },
        });
        Assert.True(discovered.Status == HttpStatusCode.OK, discovered.Text);
        var enabled = await node.Api.PostAsync("api/machines/vm2/enable", new { churnMBps = 1, masterTargets = new[] { "d2-mt" }, processServers = new[] { "d2-ps" } });
        Assert.True(enabled.Status == HttpStatusCode.OK, enabled.Text);

        // Placed on d2-ps, the agent told this process server by hand is refused at its next hello, by name, and alerted.
        await agent.StopAsync();
        var restart = agent.StartAsync(TimeSpan.FromSeconds(120));
        _ = restart.ContinueWith(t => t.Exception, TaskScheduler.Default);
        const string why = "machine vm2's disks (disk2) are placed on process server d2-ps, not on cfg-ps";
        await agent.Process!.WaitForLineAsync(l => l.Contains(why, StringComparison.Ordinal), TimeSpan.FromSeconds(90), "the agent logging the refusal");
        Assert.Contains(node.Process!.Lines, l => l.Contains(why, StringComparison.Ordinal));
        JsonNode? alert = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (alert is null)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no DiskWriterRefused alert for disk2\n{node.Process.Tail(40)}");
            var r = await node.Api.GetAsync("api/alerts?active=true");
            alert = r.Body?["alerts"]?.AsArray().FirstOrDefault(a => a!["kind"]!.GetValue<string>() == "DiskWriterRefused" && a["target"]!.GetValue<string>() == "disk2");
            if (alert is null) await Task.Delay(200);
        }
        Assert.Contains("placed on process server d2-ps", alert["detail"]!.GetValue<string>());
        Assert.False(restart.IsCompletedSuccessfully, "a refused agent became ready");
        Assert.DoesNotContain(agent.Process.Lines, l => l.Contains("connected to process server", StringComparison.Ordinal));
        agent.Kill9();
    }

    /// <summary>Asks for <paramref name="machine"/>'s placement as agent <paramref name="agentId"/> (its key and certificate in <paramref name="folder"/>).</summary>
    static async Task<HttpResponseMessage> AskPlacementAsync(Node cfg, string folder, string agentId, string machine)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(await File.ReadAllTextAsync(Path.Combine(folder, "writer.key")));
        var signedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var signature = Convert.ToBase64String(key.SignData(Encoding.UTF8.GetBytes($"siterecovery-placement-v1\n{agentId}\n{machine}\n{signedAt}"),
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        using var http = new HttpClient { BaseAddress = new Uri(cfg.ApiUrl + "/") };
        return await http.PostAsJsonAsync($"api/machines/{machine}/placement",
            new { componentId = agentId, certificatePem = await File.ReadAllTextAsync(Path.Combine(folder, "component.crt")), signedAtUnixMs = signedAt, signature });
    }
}
