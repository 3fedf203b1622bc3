using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A bookmark name already used on a disk is refused before any marker goes in, at once, naming the point that has it,
/// on the single-disk and the group path; two concurrent requests for one new name cannot both pass.
/// </summary>
public sealed class BookmarkNameTests
{
    const string Disk = "names";

    [Fact]
    public async Task A_used_name_is_refused_up_front_naming_the_point_and_only_one_of_two_concurrent_requests_wins()
    {
        using var dir = new TempDir("bookmark-names");
        // The test counts the bookmark requests the agent gets: the master target's automatic points (one every 5 s to a
        // disk that changed) would add to them whenever they fall, so they are off for this node.
        var conf = dir["no-auto-points.conf"];
        await File.WriteAllTextAsync(conf, "siterecovery.data-path.master-target.auto-recovery-point-interval = off\n");
        using var node = new Node("bn", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        await using var agent = new ScriptedAgent(await FakeAgent.ConnectAsync(node.PsPort), Disk, 1L << 20);
        await agent.HelloAsync();
        agent.StartReading();
        var w = await agent.SendAsync(DeltaKind.Write, 0, new byte[4096]);
        await agent.WaitAckedAsync(w, node);

        var first = await node.Api.PostAsync("api/bookmarks", new { name = "dup1", disks = new[] { Disk }, timeoutSeconds = 20 });
        Assert.True(first.Status == HttpStatusCode.OK, first.Text);
        var seq = first.Body!["sequences"]![Disk]!.GetValue<long>();
        var requests = agent.BookmarkRequests;

        var started = DateTime.UtcNow;
        var again = await node.Api.PostAsync("api/bookmarks", new { name = "dup1", disks = new[] { Disk }, timeoutSeconds = 20 });
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Contains($"bookmark 'dup1' already names the recovery point at #{seq} on disk {Disk}", again.Error);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), $"refusal took {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
        Assert.Equal(requests, agent.BookmarkRequests); // nothing was asked of the agent, so no marker went in

        var group = await node.Api.PostAsync("api/group-bookmarks", new { bookmark = "dup1", machines = new[] { ScriptedAgent.AgentId }, timeoutMs = 5000 });
        Assert.Equal(HttpStatusCode.Conflict, group.Status);
        Assert.Contains("already names the recovery point", group.Error);
        Assert.Equal(requests, agent.BookmarkRequests);

        // Reserved names and the resync marker's prefix are refused as bad input.
        var reserved = await node.Api.PostAsync("api/bookmarks", new { name = "resync:end:x", disks = new[] { Disk } });
        Assert.Equal(HttpStatusCode.BadRequest, reserved.Status);
        Assert.Contains("reserved", reserved.Error);

        // Two at once for one new name: exactly one wins; the loser is told another request holds the name.
        var both = await Task.WhenAll(
            node.Api.PostAsync("api/bookmarks", new { name = "race", disks = new[] { Disk }, timeoutSeconds = 20 }),
            node.Api.PostAsync("api/bookmarks", new { name = "race", disks = new[] { Disk }, timeoutSeconds = 20 }));
        Assert.Single(both, r => r.Status == HttpStatusCode.OK);
        var loser = Assert.Single(both, r => r.Status != HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.Conflict, loser.Status);
        Assert.Matches("being taken on disk names by another request|already names the recovery point", loser.Error);
        var points = (await node.Api.GetAsync($"api/disks/{Disk}")).Body!["recoveryPoints"]!.AsArray();
        Assert.Single(points, p => p!["bookmarkId"]!.GetValue<string>() == "race");

        // Recovery of an unknown disk says the disk is unknown.
        var unknown = await node.Api.PostAsync("api/recover", new { disk = "no-such-disk", bookmark = "dup1", output = dir["x.img"] });
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("disk no-such-disk is unknown", unknown.Error);
    }
}
