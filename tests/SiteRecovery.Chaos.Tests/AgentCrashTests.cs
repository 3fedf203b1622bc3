using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent itself crashes mid-workload: it cannot vouch for what it had not sent, so it resyncs — only the extents its
/// write-ahead activity log held (fio writes a 32 MiB hot region of a 256 MiB disk), and the replica converges.
/// </summary>
public sealed class AgentCrashTests
{
    const long DiskSize = 256L << 20;
    const string Disk = "disk1";
    const int HotMb = 32;
    const string Reason = "AgentCrashActivityLog";

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
        var fio = ExternalTool.RunAsync("fio", Tools.FioRandWrite(agent.Uri(Disk), "agentcrash", HotMb, 512), TimeSpan.FromMinutes(3));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await node.SpooledAsync(Disk) - before < 400 && !fio.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.False(fio.IsCompleted, "fio finished before the agent was killed");
        agent.Kill9();
        var fioResult = await fio;
        Assert.True(fioResult.ExitCode != 0, $"fio should fail when the NBD server dies under it:\n{fioResult.Output}");

        await agent.StartAsync();
        // The agent logs the resync's start (stderr) before its ready line (stdout), but the two pipes are read apart:
        // under load the ready line can be read first (seen once in a full run with a 4 GiB bench beside it).
        try { await agent.Process!.WaitForLineAsync(l => l.Contains($"resync started ({Reason})", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "resync started"); }
        catch (TimeoutException) { Assert.Fail($"the restarted agent did not start a resync from its activity log\n{Logs()}"); }
        // Only the logged extents are read: the hot region, not the disk (a write may straddle one more extent).
        var scanned = agent.Process.WaitForLineAsync(l => l.Contains("resync scanned", StringComparison.Ordinal), TimeSpan.FromSeconds(120), "resync scanned");

        // The control plane must learn why the disk is resyncing: from the API while it runs, and from the node's log.
        var sawApiReason = false;
        var sawResyncing = false;
        deadline = DateTime.UtcNow.AddSeconds(120);
        while (!node.Process!.HasLine(l => l.Contains($"resync completed ({Reason})", StringComparison.Ordinal)))
        {
            var view = await node.Api.GetAsync($"api/disks/{Disk}");
            if (view.Body?["resyncReason"]?.ToString() == Reason) sawApiReason = true;
            if (view.Body?["state"]?.ToString() == "Resyncing") sawResyncing = true;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"resync did not complete within 120 s\n{Logs()}");
            await Task.Delay(50);
        }
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await node.Process.WaitForLineAsync(l => l.Contains($"resync started ({Reason})", StringComparison.Ordinal), TimeSpan.FromSeconds(30), $"resync started ({Reason})");
        // A resync can finish between two polls; the view keeps the last resync's reason for that case.
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (!sawApiReason && !sawResyncing && DateTime.UtcNow < deadline)
        {
            var view = await node.Api.GetAsync($"api/disks/{Disk}");
            sawApiReason = view.Body?["lastResyncReason"]?.ToString() == Reason;
            if (!sawApiReason) await Task.Delay(50);
        }
        Assert.True(sawApiReason || sawResyncing, $"GET /api/disks/{Disk} never showed the resync (reason {Reason})\n{Logs()}");

        var line = await scanned;
        var mib = long.Parse(System.Text.RegularExpressions.Regex.Match(line, @"resync scanned (\d+) MiB").Groups[1].Value);
        Assert.True(mib <= 2 * HotMb + 4, $"the resync read {mib} MiB for a {HotMb} MiB hot region of a {DiskSize >> 20} MiB disk: {line}");

        // The restarted agent serves writes again, and the replica converges to the source.
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x5c 1M 2M", "-c", "write -z 100M 1M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("after-agent-crash", [Disk], TimeSpan.FromSeconds(90));
        if (!compareRecovery) return;
        var expected = Files.Sha256(diskPath);
        var output = dir["recovered.img"];
        var reported = await node.RecoverAsync(Disk, "after-agent-crash", output);
        Assert.True(Files.Sha256(output) == expected, $"recovered image differs from the source\n{Logs()}");
        Assert.Equal(expected, reported);
    }
}

/// <summary>
/// What a user does right after an agent crash: the site of the README (configuration + master target node, process
/// server node, one agent), fio writing 64 KiB random writes through the agent, SIGKILL, restart, and a bookmark asked for
/// the moment the agent is ready. The bookmark must not be a point inside the resync: it waits for the resync (or is
/// refused, retryably, naming it), and the image recovered at it equals the source byte for byte (nothing writes after
/// the restart).
/// </summary>
public sealed class BookmarkRightAfterAgentCrashTests
{
    [Fact]
    public async Task A_bookmark_taken_as_soon_as_the_restarted_agent_is_ready_recovers_to_the_source()
    {
        using var site = await TwoNodeSite.StartAsync("bookmark-after-crash", 256L << 20, seed: 33);
        var disk = TwoNodeSite.Disk;
        var fio = ExternalTool.RunAsync("fio", Tools.FioRandWrite(site.Agent.Uri(disk), "bmcrash", 256, 512), TimeSpan.FromMinutes(3));
        var before = await site.B.SpooledAsync(disk);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await site.B.SpooledAsync(disk) - before < 400 && !fio.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.False(fio.IsCompleted, "fio finished before the agent was killed");
        site.Agent.Kill9();
        await fio;

        await site.Agent.StartAsync();
        // First ask with a budget too short for the resync: refused, naming it (or, if the resync already finished, a true
        // point). On a loaded machine the agent's answer may not come within the second: then the answer is the timeout
        // (naming the resync when the master target knows of it), and a "quick" point, if the late answer makes one, is
        // outside the resync.
        var quick = await site.A.Api.PostAsync("api/bookmarks", new { name = "quick", disks = new[] { disk }, timeoutSeconds = 1 });
        if (quick.Status == HttpStatusCode.Conflict) Assert.Contains("resync", quick.Error);
        else if (quick.Status != HttpStatusCode.OK)
            Assert.True(quick.Status == HttpStatusCode.GatewayTimeout && quick.Error.Contains("did not complete within 1 s", StringComparison.Ordinal),
                $"{(int)quick.Status} {quick.Text}");
        // Then as a user would: the bookmark waits within its timeout until the resync is over.
        var r = await site.A.Api.PostAsync("api/bookmarks", new { name = "right-after-restart", disks = new[] { disk }, timeoutSeconds = 120 });
        Assert.True(r.Status == HttpStatusCode.OK, $"{(int)r.Status} {r.Text}\n{site.Logs()}");
        var seq = r.Body!["sequences"]![disk]!.GetValue<long>();
        var retention = await site.A.Api.GetAsync($"api/disks/{disk}/retention");
        var ranges = retention.Body!["resyncRanges"]!.AsArray();
        Assert.True(ranges.Count > 0, $"the master target recorded no resync range after the agent's crash\n{retention.Text}");
        Assert.All(ranges, range => Assert.False(seq >= range!["from"]!.GetValue<long>() && (range["to"] is null || seq < range["to"]!.GetValue<long>()),
            $"bookmark at #{seq} is inside {range}"));
        var view = await site.A.Api.GetAsync($"api/disks/{disk}");
        foreach (var point in view.Body!["recoveryPoints"]!.AsArray().Where(p => p!["bookmarkId"]!.GetValue<string>() == "quick"))
        {
            var at = point!["sequence"]!.GetValue<long>();
            Assert.True(quick.Status != HttpStatusCode.Conflict, $"bookmark 'quick' was refused but became a point at #{at}");
            Assert.All(ranges, range => Assert.False(at >= range!["from"]!.GetValue<long>() && (range["to"] is null || at < range["to"]!.GetValue<long>()),
                $"bookmark 'quick' at #{at} is inside {range}"));
        }

        foreach (var name in quick.Status == HttpStatusCode.OK ? new[] { "quick", "right-after-restart" } : ["right-after-restart"])
        {
            var expected = Files.Sha256(site.DiskPath);
            var output = site.Dir[$"{name}.img"];
            var reported = await site.A.RecoverAsync(disk, name, output);
            Assert.True(Files.Sha256(output) == expected, $"image recovered at {name} differs from the source\n{site.Logs()}");
            Assert.Equal(expected, reported);
        }
    }
}

/// <summary><c>srctl resync</c>: an operator's resync compares the whole disk by hashes and repairs a replica that drifted.</summary>
public sealed class OperatorResyncTests
{
    [Fact]
    public async Task Srctl_resync_repairs_a_damaged_replica_and_shows_as_a_job_with_its_reason()
    {
        using var dir = new TempDir("operator-resync");
        var diskPath = dir["disk1.img"];
        Files.CreateDisk(diskPath, 64L << 20, seed: 5);
        using var node = new Node("n", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { ["disk1"] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("disk1"), "-c", "write -P 0x5c 1M 2M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("before", ["disk1"], TimeSpan.FromSeconds(90)); // initial replication over, the replica is current
        var replica = Directory.GetFiles(dir["n"], "disk1.img", SearchOption.AllDirectories).Single(p => p.Contains("replicas"));
        await using (var f = new FileStream(replica, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) { f.Position = 10 << 20; f.Write(new byte[] { 1, 2, 3, 4 }); f.Flush(true); }
        Assert.NotEqual(Files.Sha256(diskPath), Files.Sha256(replica));

        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        var bad = await ExternalTool.RunAsync("dotnet", [srctl, "resync", "--disk", "no-such", "--reason", "check", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("disk no-such is unknown", bad.Output);
        var ok = await ExternalTool.RunOkAsync("dotnet", [srctl, "resync", "--disk", "disk1", "--reason", "replica check after a storage incident", "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.Contains("OperatorRequest", ok.StdOut);

        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!node.Process!.HasLine(l => l.Contains("resync completed (OperatorRequest)", StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"operator resync did not complete\n{node.Logs()}\n{agent.Logs()}");
            await Task.Delay(100);
        }
        // The jobs are a projection of the journal: it follows within its refresh interval.
        var jobs = "";
        deadline = DateTime.UtcNow.AddSeconds(15);
        while (!(jobs = (await node.Api.GetAsync("api/jobs")).Text).Contains("reason OperatorRequest", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            await Task.Delay(200);
        Assert.True(jobs.Contains("reason OperatorRequest", StringComparison.Ordinal), $"no resync job with reason OperatorRequest: {jobs}\n{node.Logs()}");
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await agent.Process!.WaitForLineAsync(l => l.Contains("resync asked by an operator: replica check after a storage incident", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "resync asked by an operator: replica check after a storage incident");
        await node.BookmarkAsync("after", ["disk1"], TimeSpan.FromSeconds(60)); // the replica is flushed with the next commits
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (Files.Sha256(replica) != Files.Sha256(diskPath) && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Equal(Files.Sha256(diskPath), Files.Sha256(replica));
    }
}
