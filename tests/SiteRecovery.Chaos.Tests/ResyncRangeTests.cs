using System.Net;
using System.Text;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The master target's own resync ranges decide what is a point, whatever an agent (here a hand-driven one that inserts a
/// marker wherever it is asked, like an agent that does not refuse) and the control plane believe: bookmarks, sequences,
/// times and exports inside a resync are refused or clamped, and the ranges survive a node restart.
/// </summary>
public sealed class ResyncRangeTests
{
    const long Size = 1L << 20;
    const string Disk = "rr";

    static byte[] Pattern(int seed)
    {
        var b = new byte[64 << 10];
        new Random(seed).NextBytes(b);
        return b;
    }

    static async Task<string[]> PointsAsync(Node node) =>
        (await node.Api.GetAsync($"api/disks/{Disk}")).Body?["recoveryPoints"]?.AsArray().Select(p => p!["bookmarkId"]!.GetValue<string>()).ToArray() ?? [];

    [Fact]
    public async Task Every_way_of_naming_a_point_inside_a_resync_is_refused_or_clamped_and_the_ranges_survive_a_restart()
    {
        using var dir = new TempDir("resync-ranges");
        using var node = new Node("rr", "all", dir["n"], dir.Path);
        await node.StartAsync();
        var a = Pattern(1);
        var b = Pattern(2);
        long begin, inside, end;
        await using (var agent = new ScriptedAgent(await FakeAgent.ConnectAsync(node.PsPort), Disk, Size))
        {
            await agent.HelloAsync();
            agent.StartReading();
            await agent.SendAsync(DeltaKind.Write, 0, a);                                    // #1
            var before = await agent.MarkerAsync("before");                                  // #2
            begin = await agent.MarkerAsync(ResyncMarker.Begin(ResyncReason.AgentRestartedWithoutTracking)); // #3
            inside = await agent.SendAsync(DeltaKind.Write, 64 << 10, b);                // #4
            var insideMarker = await agent.MarkerAsync("inside");                           // #5, as an agent that does not refuse
            await agent.WaitAckedAsync(insideMarker, node);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!(await PointsAsync(node)).Contains("before") && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.Contains("before", await PointsAsync(node));
            Assert.DoesNotContain("inside", await PointsAsync(node));
            // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
            await node.Process!.WaitForLineAsync(l => l.Contains("marker 'inside' is not a recovery point", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "marker 'inside' is not a recovery point");

            // A sequence, an export and an operator's bookmark inside the running resync.
            var bySeq = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = inside, output = dir["seq.img"] });
            Assert.Equal(HttpStatusCode.Conflict, bySeq.Status);
            Assert.Contains($"resync (AgentRestartedWithoutTracking) running since #{begin}", bySeq.Error);
            Assert.False(File.Exists(dir["seq.img"]));
            var export = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = inside });
            Assert.Equal(HttpStatusCode.Conflict, export.Status);
            Assert.Contains("resync", export.Error);
            // Refused, naming the resync; or, when the budget ends while a retry's marker is still on its way, a timeout that
            // says the marker may yet be a point (this agent inserts markers inside its resync, so it will not be one).
            var op = await node.Api.PostAsync("api/bookmarks", new { name = "op", disks = new[] { Disk }, timeoutSeconds = 2 });
            if (op.Status == HttpStatusCode.Conflict) Assert.Contains("running since", op.Error);
            else Assert.True(op.Status == HttpStatusCode.GatewayTimeout && op.Error.Contains("inserted the marker", StringComparison.Ordinal), $"{(int)op.Status} {op.Text}");
            Assert.DoesNotContain("op", await PointsAsync(node));

            // A time inside is clamped to the last state before the resync, and says so.
            var byTime = await node.Api.PostAsync("api/recover", new { disk = Disk, time = DateTimeOffset.UtcNow.AddSeconds(-0.001).ToString("O"), output = dir["time.img"] });
            Assert.True(byTime.Status == HttpStatusCode.OK, byTime.Text);
            Assert.Equal(before, byTime.Body!["sequence"]!.GetValue<long>());
            Assert.Contains("clamped", byTime.Body!["note"]!.GetValue<string>());
            var image = await File.ReadAllBytesAsync(dir["time.img"]);
            Assert.True(image.AsSpan(0, a.Length).SequenceEqual(a) && image.AsSpan(64 << 10, b.Length).IndexOfAnyExcept((byte)0) < 0,
                "the clamped point is not the disk as of the bookmark before the resync");

            var retention = await node.Api.GetAsync($"api/disks/{Disk}/retention");
            Assert.Equal(before, retention.Body!["latestConsistentSequence"]!.GetValue<long>());
            Assert.Equal(begin, retention.Body!["resyncRanges"]![0]!["from"]!.GetValue<long>());
            Assert.Null(retention.Body!["resyncRanges"]![0]!["to"]);

            // The resync ends: the next bookmark is a point.
            end = await agent.MarkerAsync(ResyncMarker.End(ResyncReason.AgentRestartedWithoutTracking));
            await agent.WaitAckedAsync(end, node);
            var after = await node.Api.PostAsync("api/bookmarks", new { name = "after", disks = new[] { Disk }, timeoutSeconds = 20 });
            Assert.True(after.Status == HttpStatusCode.OK, after.Text);
            Assert.True(after.Body!["sequences"]![Disk]!.GetValue<long>() > end);
        }

        await node.StopAsync();
        await node.StartAsync();
        var again = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = inside, output = dir["again.img"] });
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Contains($"from #{begin} to #{end}", again.Error);
        var ok = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = end, output = dir["ok.img"] });
        Assert.True(ok.Status == HttpStatusCode.OK, ok.Text);
    }
}
