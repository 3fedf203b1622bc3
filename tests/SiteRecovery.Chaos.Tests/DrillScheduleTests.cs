using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A scheduled drill end to end: a node whose drill minimum is lowered to 10 s, a one-machine plan drilled every 10 s
/// with a 10 s time-to-live. Nobody starts a failover: the node starts the drill by itself, the tiny guest boots, the
/// report passes, and the time-to-live cleans it up.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DrillScheduleTests
{
    const int DiskMb = 64;

    [Fact]
    public async Task A_plan_drilled_every_10_s_starts_its_drill_by_itself_which_passes_and_is_cleaned_up_by_its_ttl()
    {
        using var dir = new TempDir("drill-schedule");
        var scripts = dir["scripts"];
        Directory.CreateDirectory(scripts);
        File.SetUnixFileMode(scripts, (UnixFileMode)0b111_101_101);
        var conf = dir["failover.conf"];
        await File.WriteAllTextAsync(conf,
            $"siterecovery.failover {{ scripts-directory = \"{scripts}\", boot-timeout = 150s, drill-minimum-interval = 10s, drill-check-interval = 1s }}\n");
        using var node = new Node("drill", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        try
        {
            await RunAsync(dir, node);
        }
        finally
        {
            // The schedule keeps starting drills every 10 s: one started just before the node stops would leave its qemu
            // (a daemon, which outlives the node by design) running. The node goes first, so no drill starts after this
            // cleanup; then stop whatever qemu this test's folder started.
            node.Kill9();
            foreach (var d in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(d), out var pid)) continue;
                string cmdline;
                try { cmdline = File.ReadAllText(Path.Combine(d, "cmdline")); }
                catch (IOException) { continue; }
                catch (UnauthorizedAccessException) { continue; }
                if (cmdline.Contains("qemu-system", StringComparison.Ordinal) && cmdline.Contains(dir.Path, StringComparison.Ordinal))
                    try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
            }
            // Then what the target made around them (a drill's network namespace), through the target's own cleanup.
            var jobs = Path.Combine(dir["n"], "failover");
            if (Directory.Exists(jobs))
            {
                var target = new SiteRecovery.Compute.Local.LocalQemuTarget(new SiteRecovery.Compute.Local.LocalTargetOptions());
                foreach (var machine in Directory.EnumerateDirectories(jobs).SelectMany(Directory.EnumerateDirectories))
                    await target.StopLeftoverAsync(machine, CancellationToken.None);
            }
        }
    }

    static async Task RunAsync(TempDir dir, Node node)
    {
        var path = dir["vm1-boot.img"];
        await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(DiskMb << 20);
        using var agent = new Agent("vm1", new Dictionary<string, string> { ["vm1-boot"] = path }, node.PsAddress, dir["agent-vm1"], dir.Path);
        await agent.StartAsync();
        var sha = await GuestMachines.SeedAsync(agent.Uri("vm1-boot"), dir.Path, 1);
        await node.BookmarkAsync("seeded-vm1", ["vm1-boot"], TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync("api/vaults", new { name = "drills", region = "WestEurope" })).Status);
        var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "weekly", vault = "drills", groups = new[] { new { machines = new[] { "vm1" } } } });
        Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);

        // Under the node's minimum: refused, naming the rule.
        var tooOften = await node.Api.PutAsync("api/recovery-plans/weekly/drill-schedule", new { everySeconds = 5, ttlSeconds = 10 });
        Assert.Equal(HttpStatusCode.BadRequest, tooOften.Status);
        Assert.Contains("DrillEvery must be within 00:00:10", tooOften.Error);
        var set = await node.Api.PutAsync("api/recovery-plans/weekly/drill-schedule", new { everySeconds = 10, ttlSeconds = 10 });
        Assert.True(set.Status == HttpStatusCode.OK, set.Text);
        var view = (await node.Api.GetAsync("api/recovery-plans/weekly")).Body!;
        Assert.Equal("00:00:10", view["drillEvery"]!.GetValue<string>());

        // The drill starts by itself within its interval and a few checks.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string? job = null;
        while (job is null)
        {
            var list = (await node.Api.GetAsync("api/failovers")).Body!.AsArray();
            job = list.Select(j => j!["jobId"]!.GetValue<string>()).FirstOrDefault();
            if (job is null && DateTime.UtcNow > deadline) throw new TimeoutException($"no drill started by itself\n{node.Logs(60)}");
            await Task.Delay(500);
        }
        Assert.StartsWith("test-weekly-", job);

        JsonNode v;
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(150);
        while (true)
        {
            v = (await node.Api.GetAsync($"api/failovers/{job}")).Body!;
            var status = v["status"]!.GetValue<string>();
            if (status is "CleanedUp" or "StepFailed") break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"drill {job} is {status}\n{node.Logs(60)}");
            await Task.Delay(500);
        }
        Assert.True(v["status"]!.GetValue<string>() == "CleanedUp", v.ToJsonString());
        Assert.True(v["report"]!["passed"]!.GetValue<bool>(), v["report"]!.ToJsonString());
        Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={sha}", v["report"]!["machines"]![0]!["guestCheck"]!.GetValue<string>());
        // The drill's machine has a NIC on its group's bridge and no static address: the guest says so itself.
        Assert.Matches("^SR-NET eth0 52:54:00(:[0-9a-f]{2}){3} unaddressed$", v["report"]!["machines"]![0]!["guestNetwork"]?.GetValue<string>() ?? "(none)");
        Assert.Contains("time-to-live of 10 s", v["cleanupReason"]!.GetValue<string>());
        Assert.Equal(10, v["ttlSeconds"]!.GetValue<int>());
    }
}
