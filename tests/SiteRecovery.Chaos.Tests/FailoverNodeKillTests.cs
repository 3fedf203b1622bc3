using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// SIGKILL of the node in the middle of each real failover kind (a test failover's is in <see cref="FailoverTests"/>):
/// an unplanned failover killed while its booted machine moves onto its images, a planned one killed after it has
/// stopped the source and while its machine boots. On restart each job is rolled back, naming the step, and leaves
/// nothing: no qemu of the job, no image, no export; the planned one gives the source its writes back.
/// The move is slowed (<c>materialize-speed</c>) so the kill lands inside it, not by luck.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FailoverNodeKillTests
{
    const string Slow = "materialize-speed = 4MiB";

    [Fact]
    public async Task A_node_killed_inside_an_unplanned_move_or_a_planned_boot_rolls_each_job_back_on_restart_leaving_nothing()
    {
        using var dir = new TempDir("failover-kill-real");
        var (node, machines) = await FailoverTests.SiteWithSettingsAsync(dir, 32, Slow, "vm1");
        using var _ = node;
        var m = machines[0];
        var data = $"{m.Id}-data";
        try
        {
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "p", vault = "drills", groups = new[] { new { machines = new[] { "vm1" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);

            // Unplanned: killed once the booted machine's disks are being copied into its images.
            var unplanned = await StartAsync(node, "unplanned");
            var images = Path.Combine(node.DataDir, "failover", unplanned, "vm1");
            await WaitAsync(node, () => File.Exists(Path.Combine(images, $"{m.Disk}.img")), $"the move of {unplanned} to begin");
            var during = await node.Api.GetAsync($"api/failovers/{unplanned}");
            Assert.Equal("Running", during.Body!["steps"]![1]!["state"]!.GetValue<string>());
            Assert.NotEmpty((await node.Api.GetAsync($"api/disks/{m.Disk}/exports")).Body!.AsArray());
            await KillAndRestartAsync(node);
            var rolled = await FailoverTests.UntilAsync(node, unplanned, j => FailoverTests.Status(j) == "CleanedUp", TimeSpan.FromMinutes(2));
            Assert.Contains(rolled["history"]!.AsArray(), h => h!.GetValue<string>().Contains("the node restarted while step 1 'start boot group 1' was running"));
            await AssertNothingLeftAsync(node, unplanned, m.Disk, data);

            // Planned: the source is stopped (read-only, drained), then the node dies while the machine boots.
            var planned = await StartAsync(node, "planned");
            await WaitAsync(node, () => FailoverTests.QemuOfJobRuns(planned), $"a machine of {planned} to start");
            var stopped = await node.Api.GetAsync($"api/failovers/{planned}");
            Assert.Equal("Succeeded", stopped.Body!["steps"]![0]!["state"]!.GetValue<string>());
            var refused = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", m.Agent.Uri(data), "-c", "write -P 0x5a 0 64k"], TimeSpan.FromMinutes(1), CancellationToken.None);
            Assert.NotEqual(0, refused.ExitCode); // the stopped source refuses writes
            await KillAndRestartAsync(node);
            var back = await FailoverTests.UntilAsync(node, planned, j => FailoverTests.Status(j) == "CleanedUp", TimeSpan.FromMinutes(2));
            Assert.Contains(back["history"]!.AsArray(), h => h!.GetValue<string>().Contains("the node restarted while step 2 'start boot group 1' was running"));
            Assert.Contains(back["history"]!.AsArray(), h => h!.GetValue<string>().Contains("the source takes writes again"));
            await AssertNothingLeftAsync(node, planned, m.Disk, data);
            // The source writes again, and what it writes replicates.
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", m.Agent.Uri(data), "-c", "write -P 0x5b 0 64k"], TimeSpan.FromMinutes(1));
            await node.BookmarkAsync("after-rollback", [m.Disk, data], TimeSpan.FromSeconds(60));
            Assert.Equal(Files.Sha256(dir[$"{data}.img"]), await node.RecoverAsync(data, "after-rollback", dir["after.img"]));
        }
        finally
        {
            foreach (var x in machines) x.Agent.Dispose();
        }
    }

    static async Task<string> StartAsync(Node node, string kind)
    {
        var start = await node.Api.PostAsync("api/failovers", new { plan = "p", kind });
        Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
        return start.Body!["jobId"]!.GetValue<string>();
    }

    static async Task WaitAsync(Node node, Func<bool> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 3 min for {what}\n{node.Logs(60)}");
            await Task.Delay(20);
        }
    }

    static async Task KillAndRestartAsync(Node node)
    {
        node.Kill9();
        await node.Process!.WaitForExitAsync(TimeSpan.FromSeconds(10));
        await node.StartAsync();
    }

    static async Task AssertNothingLeftAsync(Node node, string job, params string[] disks)
    {
        Assert.False(FailoverTests.QemuOfJobRuns(job), $"a machine of {job} still runs");
        var folder = Path.Combine(node.DataDir, "failover", job);
        if (Directory.Exists(folder))
            Assert.DoesNotContain(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories), f => !Path.GetFileName(f).StartsWith("console", StringComparison.Ordinal));
        foreach (var disk in disks) Assert.Empty((await node.Api.GetAsync($"api/disks/{disk}/exports")).Body!.AsArray());
    }
}
