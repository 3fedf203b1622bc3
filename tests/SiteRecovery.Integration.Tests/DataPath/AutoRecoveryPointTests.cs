using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

public class AutoRecoveryPointTests
{
    [Fact]
    public async Task A_machine_gets_one_point_across_its_disks_while_they_change_and_none_while_idle()
    {
        var events = new RecordingEvents();
        await using var site = await Site.StartAsync("autopoints", 2, 16L << 20, configure: s => { s.Events = events; s.AutoPoints = TimeSpan.FromMilliseconds(200); });
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x41 0 3M\"", TimeSpan.FromMinutes(2));
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk2")} -c \"write -P 0x42 1M 2M\"", TimeSpan.FromMinutes(2));
        // Read right after the writes: an automatic point may already follow them, so a covering point is
        // one at or after this sequence (the marker itself may be the last entry).
        var last = site.Agent.Exports.ToDictionary(e => e.Name, e => e.Stream.LastSequence);
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));

        // Wait for an automatic point that covers everything written.
        (string Disk, string Bookmark, long Sequence) covering = default;
        for (var i = 0; i < 300 && covering.Bookmark is null; i++)
        {
            await Task.Delay(50);
            covering = events.Points.FirstOrDefault(p => p.Disk == "disk1" && p.Bookmark.StartsWith("auto-") && p.Sequence >= last["disk1"]);
        }
        Assert.NotNull(covering.Bookmark);
        var sameCut = events.Points.Where(p => p.Bookmark == covering.Bookmark).Select(p => p.Disk).OrderBy(d => d).ToList();
        Assert.Equal(["disk1", "disk2"], sameCut);
        var output = Path.Combine(site.Root, "auto.img");
        await site.Target.RecoverAsync("disk1", covering.Sequence, output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));

        // Idle disks: the marker itself is the only change, so no further points pile up.
        await Task.Delay(600);
        var settled = events.Points.Count;
        await Task.Delay(800);
        Assert.Equal(settled, events.Points.Count);
    }
}
