using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A disk has one writer identity (the key in its agent's state directory): the reported takeover (a second sragent with
/// the same --id and disk name, serving another image) is refused and raises DiskWriterRefused while the real agent keeps
/// replicating; the same agent restarted on its state directory replaces its old session; a replayed epoch is refused as
/// stale; the binding survives a node restart and only an operator's release lets another writer bind.
/// </summary>
public sealed class WriterIdentityTests
{
    const string Disk = "disk1";
    const long Size = 32L << 20;
    static readonly string Srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    static async Task<JsonNode?> AlertAsync(Node node, bool active)
    {
        var r = await node.Api.GetAsync(active ? "api/alerts?active=true" : "api/alerts");
        return r.Body?["alerts"]?.AsArray().FirstOrDefault(a => a!["kind"]!.GetValue<string>() == "DiskWriterRefused" && a["target"]!.GetValue<string>() == Disk);
    }

    static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, string what, Func<string> logs, int seconds = 60) where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            if (await probe() is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}\n{logs()}");
            await Task.Delay(200);
        }
    }

    /// <summary>Starts an agent expected never to be served: returns once its log says the process server refused it.</summary>
    static async Task<string> StartRefusedAsync(Agent agent, Func<string> logs)
    {
        var start = agent.StartAsync(TimeSpan.FromSeconds(90));
        _ = start.ContinueWith(t => t.Exception, TaskScheduler.Default); // ends with the process; what matters is the refusal
        await Task.Delay(200);
        var line = await UntilAsync(() => Task.FromResult(agent.Process?.Lines.FirstOrDefault(l => l.Contains("refused", StringComparison.Ordinal))), "the second agent was never refused", logs);
        Assert.False(start.IsCompletedSuccessfully, $"the second agent became ready: it took the disk over\n{logs()}");
        return line;
    }

    static async Task<string> WriterOfAsync(Node node)
    {
        var r = await node.Api.GetAsync($"api/disks/{Disk}/writer");
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        return r.Body!["fingerprint"]!.GetValue<string>();
    }

    [Fact]
    public async Task A_second_agent_with_the_same_id_and_disk_is_refused_raises_the_alert_and_the_real_disk_keeps_replicating()
    {
        using var dir = new TempDir("writer-impostor");
        var real = dir["real.img"];
        var other = dir["impostor.img"];
        Files.CreateDisk(real, Size, seed: 41);
        Files.CreateDisk(other, Size, seed: 42);
        using var node = new Node("wi", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x11 1M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("before", [Disk], TimeSpan.FromSeconds(90));
        var bound = await WriterOfAsync(node);

        using var impostor = new Agent("vm1", new Dictionary<string, string> { [Disk] = other }, node.PsAddress, dir["impostor"], dir.Path);
        string Logs() => node.Logs(60) + "\n" + agent.Logs(30) + "\n" + impostor.Logs(30);
        var refusal = await StartRefusedAsync(impostor, Logs);
        Assert.Contains(Disk, refusal);
        Assert.Contains(HelloSignature.Short(bound), refusal);
        Assert.Contains(nameof(WriterRefusal.DifferentWriter), refusal);
        var impostorKey = File.ReadAllText(Path.Combine(dir["impostor"], WriterIdentity.KeyFileName));
        Assert.DoesNotContain(impostorKey.Split('\n')[1], node.Logs(2000) + impostor.Logs(2000)); // no secret in any message

        var alert = await UntilAsync(() => AlertAsync(node, active: true), "no DiskWriterRefused alert", Logs);
        Assert.Contains(HelloSignature.Short(bound), alert["detail"]!.GetValue<string>());
        Assert.Equal(bound, await WriterOfAsync(node));

        // The real agent keeps replicating while the impostor keeps retrying; a bookmark after recovers to the REAL disk.
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x22 3M 2M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("after", [Disk], TimeSpan.FromSeconds(90));
        var expected = Files.Sha256(real);
        var output = dir["after.img"];
        Assert.Equal(expected, await node.RecoverAsync(Disk, "after", output));
        Assert.True(Files.Sha256(output) == expected, $"the image recovered at the bookmark is not the real disk\n{Logs()}");
        Assert.NotEqual(Files.Sha256(other), expected);
        impostor.Kill9();

        // The operator keeps the bound writer (the impostor is stopped): the alert clears.
        var keep = await ExternalTool.RunOkAsync("dotnet", [Srctl, "writer", "keep", Disk, "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.Contains("kept", keep.StdOut);
        await UntilAsync(async () => await AlertAsync(node, active: true) is null ? await AlertAsync(node, active: false) : null, "the DiskWriterRefused alert did not clear", Logs);
    }

    [Fact]
    public async Task The_same_agent_restarted_on_its_state_dir_replaces_its_session_and_a_replayed_epoch_is_refused_as_stale()
    {
        using var dir = new TempDir("writer-restart");
        var real = dir["real.img"];
        Files.CreateDisk(real, Size, seed: 43);
        using var node = new Node("wr", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path);
        string Logs() => node.Logs(60) + "\n" + agent.Logs(40);
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x31 1M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("first", [Disk], TimeSpan.FromSeconds(90));
        var bound = await WriterOfAsync(node);
        var firstEpoch = (await node.Api.GetAsync($"api/disks/{Disk}/writer")).Body!["epoch"]!.GetValue<long>();

        // kill -9: the process server may still hold the old session (half-open); the restart's higher epoch replaces it at once.
        agent.Kill9();
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x32 2M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("second", [Disk], TimeSpan.FromSeconds(120));
        var after = (await node.Api.GetAsync($"api/disks/{Disk}/writer")).Body!;
        Assert.Equal(bound, after["fingerprint"]!.GetValue<string>());
        Assert.True(after["epoch"]!.GetValue<long>() > firstEpoch, $"epoch {after["epoch"]} not above {firstEpoch}");

        // A forged hello: the real writer's key (stolen, or a captured hello) replaying an epoch already used.
        using var key = WriterIdentity.Open(dir["agent"]);
        var used = after["epoch"]!.GetValue<long>();
        foreach (var replayed in new[] { used, firstEpoch })
        {
            await using var forged = await FakeAgent.ConnectAsync(node.PsPort);
            await forged.SendControlAsync(key.SignAt(new Hello("vm1", [new DiskOffer(Disk, Size, "vm1")], ProtocolVersion.Current), replayed));
            var answer = Assert.IsType<Refused>(await forged.ReadControlAsync());
            Assert.Contains(nameof(WriterRefusal.StaleEpoch), answer.Reason);
            Assert.Contains($"epoch {replayed}", answer.Reason);
            Assert.Contains($"epoch {used}", answer.Reason);
        }

        // The live session was not disturbed: it still replicates, and the point recovers byte for byte.
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x33 5M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("third", [Disk], TimeSpan.FromSeconds(90));
        var expected = Files.Sha256(real);
        var output = dir["third.img"];
        Assert.Equal(expected, await node.RecoverAsync(Disk, "third", output));
        Assert.True(Files.Sha256(output) == expected, $"recovered image differs from the source\n{Logs()}");
    }

    [Fact]
    public async Task The_binding_survives_a_node_restart_and_only_a_release_lets_a_new_agent_bind()
    {
        using var dir = new TempDir("writer-release");
        var real = dir["real.img"];
        Files.CreateDisk(real, Size, seed: 44);
        using var node = new Node("wl", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using (var first = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent-old"], dir.Path))
        {
            await first.StartAsync();
            await node.BookmarkAsync("old", [Disk], TimeSpan.FromSeconds(90));
            await first.StopAsync();
        }
        var bound = await WriterOfAsync(node);
        await node.StopAsync();
        await node.StartAsync();
        Assert.Equal(bound, await WriterOfAsync(node));

        // The machine was reinstalled: a new agent (a new key) for the same disk is refused until the operator releases it.
        using var reinstalled = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent-new"], dir.Path);
        string Logs() => node.Logs(60) + "\n" + reinstalled.Logs(40);
        var start = reinstalled.StartAsync(TimeSpan.FromSeconds(120));
        await UntilAsync(() => Task.FromResult(reinstalled.Process?.Lines.FirstOrDefault(l => l.Contains(nameof(WriterRefusal.DifferentWriter), StringComparison.Ordinal))), "the reinstalled agent was not refused after the node restart", Logs);
        Assert.False(start.IsCompleted);
        await UntilAsync(() => AlertAsync(node, active: true), "no DiskWriterRefused alert for the reinstalled agent", Logs);

        var unknown = await ExternalTool.RunAsync("dotnet", [Srctl, "writer", "release", "no-such-disk", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("no-such-disk has no writer binding", unknown.Output);
        Assert.Equal(bound, await WriterOfAsync(node));
        var api404 = await node.Api.PostAsync("api/disks/no-such-disk/writer/release", new { });
        Assert.Equal(HttpStatusCode.NotFound, api404.Status);

        var released = await ExternalTool.RunOkAsync("dotnet", [Srctl, "writer", "release", Disk, "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.Contains(bound, released.StdOut);
        await start; // the reinstalled agent binds at its next attempt and is served
        var now = await WriterOfAsync(node);
        Assert.NotEqual(bound, now);
        await node.BookmarkAsync("new", [Disk], TimeSpan.FromSeconds(120));
        await UntilAsync(async () => await AlertAsync(node, active: true) is null ? await AlertAsync(node, active: false) : null, "the DiskWriterRefused alert did not clear after the release", Logs);
    }
}
