using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests;

/// <summary>The agent itself crashes mid-workload: it cannot vouch for what it had not sent, so it must resync.</summary>
public sealed class AgentCrashTests
{
    const long DiskSize = 256L << 20;
    const string Disk = "disk1";

    [Fact]
    public Task Agent_killed_mid_workload_resyncs_after_restart_and_serves_again() => AgentCrashAsync(compareRecovery: false);

    [Fact]
    public Task Agent_killed_mid_workload_recovers_to_the_source_after_resync() => AgentCrashAsync(compareRecovery: true);

    static async Task AgentCrashAsync(bool compareRecovery)
    {
        using var dir = new TempDir("agent-crash");
        var diskPath = dir["disk1.img"];
        Files.CreateDisk(diskPath, DiskSize, seed: 21);
        using var node = new Node("n", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        string Logs() => node.Logs(60) + "\n" + agent.Logs(60);

        var before = await node.SpooledAsync(Disk);
        // 512 MiB of writes against a trigger at 400 deltas (25 MiB): the agent acknowledges at disk speed and spools
        // later, so a workload not much larger than the trigger could end before it (seen with the process server's test).
        var fio = Tools.RunAsync("fio", Tools.FioRandWrite(agent.Uri(Disk), "agentcrash", 256, 512), TimeSpan.FromMinutes(3));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await node.SpooledAsync(Disk) - before < 400 && !fio.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.False(fio.IsCompleted, "fio finished before the agent was killed");
        agent.Kill9();
        var fioResult = await fio;
        Assert.True(fioResult.ExitCode != 0, $"fio should fail when the NBD server dies under it:\n{fioResult.Output}");

        await agent.StartAsync();
        Assert.True(agent.Process!.HasLine(l => l.Contains("resync started (AgentRestartedWithoutTracking)", StringComparison.Ordinal)),
            $"the restarted agent did not start a resync for lost tracking\n{Logs()}");

        // The control plane must learn why the disk is resyncing: from the API while it runs, and from the node's log.
        var sawApiReason = false;
        var sawResyncing = false;
        deadline = DateTime.UtcNow.AddSeconds(120);
        while (!node.Process!.HasLine(l => l.Contains("resync completed (AgentRestartedWithoutTracking)", StringComparison.Ordinal)))
        {
            var view = await node.Api.GetAsync($"api/disks/{Disk}");
            if (view.Body?["resyncReason"]?.ToString() == "AgentRestartedWithoutTracking") sawApiReason = true;
            if (view.Body?["state"]?.ToString() == "Resyncing") sawResyncing = true;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"resync did not complete within 120 s\n{Logs()}");
            await Task.Delay(50);
        }
        Assert.True(node.Process.HasLine(l => l.Contains("resync started (AgentRestartedWithoutTracking)", StringComparison.Ordinal)),
            $"the node never logged the resync start with its reason\n{Logs()}");
        // A resync can finish between two polls; the view keeps the last resync's reason for that case.
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (!sawApiReason && !sawResyncing && DateTime.UtcNow < deadline)
        {
            var view = await node.Api.GetAsync($"api/disks/{Disk}");
            sawApiReason = view.Body?["lastResyncReason"]?.ToString() == "AgentRestartedWithoutTracking";
            if (!sawApiReason) await Task.Delay(50);
        }
        Assert.True(sawApiReason || sawResyncing, $"GET /api/disks/{Disk} never showed the resync (reason AgentRestartedWithoutTracking)\n{Logs()}");

        // The restarted agent serves writes again, and the replica converges to the source.
        await Tools.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x5c 1M 2M", "-c", "write -z 100M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("after-agent-crash", [Disk], TimeSpan.FromSeconds(90));
        if (!compareRecovery) return;
        var expected = Files.Sha256(diskPath);
        var output = dir["recovered.img"];
        var reported = await node.RecoverAsync(Disk, "after-agent-crash", output);
        Assert.True(Files.Sha256(output) == expected, $"recovered image differs from the source\n{Logs()}");
        Assert.Equal(expected, reported);
    }
}
