using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The node takes group bookmarks by itself: an app-consistent one at the group's frequency (here no agent has a
/// freeze hook, so it is recorded crash-consistent, flagged, and the AppConsistencyFailed alert is raised) and
/// crash-consistent group points for a multi-VM group at group-point-interval. Each lands on both machines' disks
/// under one name, and both disks recover at it to their sources.
/// </summary>
public sealed class GroupScheduleTests
{
    const long DiskSize = 32L << 20;

    [Fact]
    public async Task Scheduled_group_points_land_on_every_member_and_a_hookless_app_point_is_flagged_and_alerted()
    {
        using var dir = new TempDir("group-schedule");
        Files.CreateDisk(dir["vm1.img"], DiskSize, seed: 31);
        Files.CreateDisk(dir["vm2.img"], DiskSize, seed: 32);
        var config = dir["schedule.hocon"];
        // Automatic single-machine points stay on (the default). A run once timed out with the one app-consistent point
        // (taken once an hour here) missing on a disk: a disk used to refuse a point that arrived after a later one.
        await File.WriteAllTextAsync(config,
            "siterecovery.data-path.master-target { group-point-interval = 2s, group-schedule-check-interval = 500ms }");
        using var node = new Node("n", "all", dir["n"], dir.Path, null, "--config", config);
        await node.StartAsync();
        using var vm1 = new Agent("vm1", new Dictionary<string, string> { ["vm1-d1"] = dir["vm1.img"] }, node.PsAddress, dir["a1"], dir.Path);
        using var vm2 = new Agent("vm2", new Dictionary<string, string> { ["vm2-d1"] = dir["vm2.img"] }, node.PsAddress, dir["a2"], dir.Path);
        await Task.WhenAll(vm1.StartAsync(), vm2.StartAsync());
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", vm1.Uri("vm1-d1"), "-c", "write -P 0x61 1M 2M"], TimeSpan.FromMinutes(1));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", vm2.Uri("vm2-d1"), "-c", "write -P 0x62 3M 1M"], TimeSpan.FromMinutes(1));

        var api = node.Api;
        var settings = new { multiVmConsistency = true, rpoThreshold = "00:15:00", retentionWindow = "1.00:00:00", appConsistentFrequency = "01:00:00" };
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups", new { groupId = "pg", vault = "v1", settings })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups/pg/machines/vm1", new { })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups/pg/machines/vm2", new { })).Status);

        // Both kinds appear on both disks under one name each.
        JsonNode? app = null, grp = null;
        List<JsonNode> p1 = [], p2 = [];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (app is null || grp is null)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no scheduled group points on both disks within 120 s (app {(app is null ? "missing" : "found")}, " +
                    $"group {(grp is null ? "missing" : "found")})\nvm1-d1 points: {Describe(p1)}\nvm2-d1 points: {Describe(p2)}\n{node.Logs(80)}");
            await Task.Delay(300);
            p1 = await PointsAsync(api, "vm1-d1");
            p2 = await PointsAsync(api, "vm2-d1");
            JsonNode? Shared(string prefix) => p1.FirstOrDefault(p => p["bookmarkId"]!.GetValue<string>().StartsWith(prefix, StringComparison.Ordinal)
                && p2.Any(q => q["bookmarkId"]!.GetValue<string>() == p["bookmarkId"]!.GetValue<string>()));
            app ??= Shared("app-pg-");
            grp ??= Shared("grp-pg-");
        }
        Assert.Equal("CrashConsistent", app["kind"]!.GetValue<string>());
        Assert.Contains("no application freeze hook", app["appConsistencyFailure"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("CrashConsistent", grp["kind"]!.GetValue<string>());
        Assert.Null(grp["appConsistencyFailure"]);
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await node.Process!.WaitForLineAsync(l => l.Contains("scheduled app-consistent bookmark app-pg-", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "scheduled app-consistent bookmark app-pg-");

        // The failed app-consistent request raises the machine's alert.
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var alerts = (await api.GetAsync("api/alerts?active=true")).Body!["alerts"]!.AsArray();
            if (alerts.Any(a => a!["kind"]!.GetValue<string>() == "AppConsistencyFailed")) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no AppConsistencyFailed alert within 60 s: {alerts.ToJsonString()}");
            await Task.Delay(300);
        }

        // Nothing wrote after the qemu-io runs, so both disks recover at the group point to their sources.
        var name = grp["bookmarkId"]!.GetValue<string>();
        Assert.Equal(Files.Sha256(dir["vm1.img"]), await node.RecoverAsync("vm1-d1", name, dir["r1.img"]));
        Assert.Equal(Files.Sha256(dir["vm2.img"]), await node.RecoverAsync("vm2-d1", name, dir["r2.img"]));
    }

    [Fact]
    public async Task A_machines_journal_keeps_its_groups_retention_window_not_the_nodes()
    {
        using var dir = new TempDir("group-window");
        Files.CreateDisk(dir["vm1.img"], DiskSize, seed: 33);
        var config = dir["window.hocon"];
        // The node keeps 24 h by default; the group asks for 3 s.
        await File.WriteAllTextAsync(config, "siterecovery.data-path.master-target { retention-check-interval = 1s, journal-segment-bytes = 1MiB, auto-recovery-point-interval = off, group-point-interval = off }");
        using var node = new Node("n", "all", dir["n"], dir.Path, null, "--config", config);
        await node.StartAsync();
        using var vm1 = new Agent("vm1", new Dictionary<string, string> { ["vm1-d1"] = dir["vm1.img"] }, node.PsAddress, dir["a1"], dir.Path);
        await vm1.StartAsync();
        var api = node.Api;
        var settings = new { multiVmConsistency = false, rpoThreshold = "00:15:00", retentionWindow = "00:00:03", appConsistentFrequency = "00:00:00" };
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups", new { groupId = "short", vault = "v1", settings })).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("api/protection-groups/short/machines/vm1", new { })).Status);

        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", vm1.Uri("vm1-d1"), "-c", "write -P 0x71 0 3M"], TimeSpan.FromMinutes(1));
        await node.BookmarkAsync("old", ["vm1-d1"], TimeSpan.FromMinutes(1));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", vm1.Uri("vm1-d1"), "-c", "write -P 0x72 4M 3M"], TimeSpan.FromMinutes(1));
        var last = await node.BookmarkAsync("new", ["vm1-d1"], TimeSpan.FromMinutes(1));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var r = await api.GetAsync("api/disks/vm1-d1/retention");
            if (r.Status == HttpStatusCode.OK && r.Body!["oldestSequence"]!.GetValue<long>() == last) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the group's 3 s window never moved the base to #{last}: {r.Text}\n{node.Logs(60)}");
            await Task.Delay(250);
        }
        Assert.Equal(Files.Sha256(dir["vm1.img"]), await node.RecoverAsync("vm1-d1", "new", dir["r.img"]));
    }

    static string Describe(List<JsonNode> points) => points.Count == 0 ? "none (or the disk view was not available)"
        : string.Join(", ", points.TakeLast(12).Select(p => $"{p["bookmarkId"]}#{p["sequence"]}")) + $" ({points.Count} in all)";

    static async Task<List<JsonNode>> PointsAsync(Api api, string disk)
    {
        var view = await api.GetAsync($"api/disks/{disk}");
        return view.Status == HttpStatusCode.OK ? view.Body!["recoveryPoints"]?.AsArray().Select(p => p!).ToList() ?? [] : [];
    }
}
