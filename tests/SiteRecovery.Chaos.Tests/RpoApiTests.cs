using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests;

/// <summary>GET /api/rpo on a real node with a real agent: per disk and per machine, the RPO and the newest recovery point.</summary>
public sealed class RpoApiTests
{
    [Fact]
    public async Task Rpo_lists_the_disk_and_its_machine_with_the_newest_point_after_a_bookmark()
    {
        using var dir = new TempDir("rpo-api");
        var diskPath = dir["disk1.img"];
        Files.CreateDisk(diskPath, 8L << 20, seed: 5);
        using var node = new Node("n", "all", dir["n"], dir.Path);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { ["disk1"] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        string Logs() => node.Logs(60) + "\n" + agent.Logs(60);

        var beforeBookmark = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await node.BookmarkAsync("rpo-1", ["disk1"], TimeSpan.FromSeconds(90));

        // The RPO read model follows the journal: wait until it has the newest point the disk's actor lists (read again each
        // time, as an automatic point may follow the bookmark).
        JsonNode? entry = null;
        JsonNode report = null!;
        long newestTime = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var disk = (await node.Api.GetAsync("api/disks/disk1")).Body!;
            newestTime = disk["recoveryPoints"]!.AsArray().Max(p => p!["timeUnixMs"]!.GetValue<long>());
            var r = await node.Api.GetAsync("api/rpo");
            if (r.Status == HttpStatusCode.OK)
            {
                report = r.Body!;
                entry = report["disks"]!.AsArray().FirstOrDefault(d => d!["diskId"]!.GetValue<string>() == "disk1");
                if (entry?["newestPointUnixMs"]?.GetValue<long>() == newestTime) break;
            }
            await Task.Delay(200);
        }
        Assert.True(entry?["newestPointUnixMs"]?.GetValue<long>() == newestTime, $"GET /api/rpo never showed disk1's newest point {newestTime}: {report}\n{Logs()}");
        Assert.True(newestTime >= beforeBookmark - 60_000, $"newest point {newestTime} is older than the bookmark taken after {beforeBookmark}");
        Assert.False(string.IsNullOrEmpty(entry!["newestPointId"]!.GetValue<string>()));
        var rpoMs = entry["rpoMs"]!.GetValue<long>();
        Assert.InRange(rpoMs, 0, report["nowUnixMs"]!.GetValue<long>() - newestTime);
        Assert.Equal(15 * 60_000, entry["thresholdMs"]!.GetValue<long>());
        Assert.False(entry["exceeded"]!.GetValue<bool>());

        var machineId = entry["machineId"]!.GetValue<string>();
        var machine = report["machines"]!.AsArray().Single(m => m!["machineId"]!.GetValue<string>() == machineId)!;
        Assert.Equal(rpoMs, machine["rpoMs"]!.GetValue<long>());
        Assert.Equal("disk1", machine["worstDiskId"]!.GetValue<string>());
        Assert.Equal(newestTime, machine["newestPointUnixMs"]!.GetValue<long>());

        var one = await node.Api.GetAsync($"api/rpo?machine={machineId}");
        Assert.Equal(HttpStatusCode.OK, one.Status);
        Assert.Single(one.Body!["machines"]!.AsArray());
        var unknown = await node.Api.GetAsync("api/rpo?disk=no-such-disk");
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("no-such-disk", unknown.Error);
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Api.GetAsync("api/rpo?disk=disk1&machine=m")).Status);
    }
}
