using SiteRecovery.Contracts.Processes;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>Agent, process server and master target on loopback, driven by qemu-io; recovered images compared byte for byte.</summary>
public class ReplicationEndToEndTests
{
    const long Size = 32L << 20;

    static void SeedSome(string _, FileStream f)
    {
        // Existing content before protection: initial replication must carry it.
        var rng = new Random(42);
        var block = new byte[1 << 20];
        rng.NextBytes(block);
        f.Position = 5L << 20;
        f.Write(block);
    }

    [Fact]
    public async Task Writes_through_NBD_are_recovered_at_a_bookmark_byte_for_byte()
    {
        await using var site = await Site.StartAsync("e2e", 2, Size, SeedSome);
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xab 0 1M\" -c \"write -P 0xcd 512k 64k\" -c \"write -z 2M 1M\" -c \"write -P 0x11 30M 2M\"", TimeSpan.FromMinutes(2));
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk2")} -c \"write -P 0x22 1M 3M\" -c \"discard 1536k 512k\"", TimeSpan.FromMinutes(2));

        var bm = await site.Target.BookmarkAsync("bm-1", ["disk1", "disk2"], TimeSpan.FromSeconds(30), default);
        Assert.Null(bm.Error);
        // Nothing writes between the bookmark and these copies, so they are the sources at the bookmark.
        var expected = site.DiskPaths.Select(p => { File.Copy(p, p + ".at-bm1"); return Tools.Sha256(p + ".at-bm1"); }).ToArray();

        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xee 0 4M\"", TimeSpan.FromMinutes(2));
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));

        for (var i = 0; i < 2; i++)
        {
            var disk = $"disk{i + 1}";
            var output = Path.Combine(site.Root, $"{disk}.recovered");
            var result = await site.Target.RecoverAsync(disk, bm.Sequences[disk], output, null, default);
            Assert.Equal(expected[i], Tools.Sha256(output));
            Assert.Equal(expected[i], result.Sha256.ToUpperInvariant());
        }
        // The later write is in the replica too: recovering at the latest point equals the source now.
        var latest = Path.Combine(site.Root, "disk1.latest");
        await site.Target.RecoverAsync("disk1", site.Target.Disks["disk1"].AppliedThrough, latest, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(latest));
        Assert.NotEqual(expected[0], Tools.Sha256(latest));
    }

    [Fact]
    public async Task Process_server_restart_mid_workload_loses_nothing()
    {
        await using var site = await Site.StartAsync("psrestart", 1, Size);
        var writer = ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} " + string.Join(" ", Enumerable.Range(0, 200).Select(i => $"-c \"write -P {i % 250 + 1} {(i * 97 % 480) * 64}k 64k\"")), TimeSpan.FromMinutes(2));
        await Task.Delay(50);
        await site.Process.DisposeAsync();
        await Task.Delay(300);
        await site.StartProcessServerAsync();
        await writer;
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        var bm = await site.Target.BookmarkAsync("after", ["disk1"], TimeSpan.FromSeconds(30), default);
        var output = Path.Combine(site.Root, "r.img");
        await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
    }

    [Fact]
    public async Task Agent_restart_without_tracking_resyncs_only_what_differs()
    {
        await using var site = await Site.StartAsync("resync", 1, Size, SeedSome);
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x31 0 2M\" -c \"write -P 0x32 20M 1M\"", TimeSpan.FromMinutes(2));
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        await site.Agent.DisposeAsync();

        // A crash: the tracking state is not clean, and writes reached the disk that the stream never saw.
        var statePath = Path.Combine(site.Root, "agent", "disk1.state.json");
        File.WriteAllText(statePath, File.ReadAllText(statePath).Replace("\"Clean\":true", "\"Clean\":false"));
        // Writes that bypass the agent are only found by a whole-disk compare: without its activity log the agent does one.
        File.Delete(Path.Combine(site.Root, "agent", "disk1.activity"));
        await using (var f = new FileStream(site.DiskPaths[0], FileMode.Open))
        {
            f.Position = 7L << 20; f.Write(Enumerable.Repeat((byte)0x77, 300_000).ToArray());   // uncaptured data
            f.Position = 0; f.Write(new byte[1 << 20]);                                       // uncaptured zeroing
        }
        await site.StartAgentAsync();
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x33 10M 64k\"", TimeSpan.FromMinutes(2));
        var bm = await site.Target.BookmarkAsync("after-resync", ["disk1"], TimeSpan.FromSeconds(30), default);
        var output = Path.Combine(site.Root, "r.img");
        await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
        var line = site.Log.Last(l => l.Contains("resync scanned"));
        Assert.Contains("AgentRestartedWithoutTracking", string.Join("\n", site.Log));
        // 32 blocks of 1 MiB: blocks 0 and 7 differ; the other 30 are equal and not sent.
        Assert.Contains("30 blocks equal at the replica", line);
    }

    [Fact]
    public async Task Writes_keep_source_speed_while_the_process_server_is_down_and_nothing_is_lost()
    {
        await using var site = await Site.StartAsync("overflow", 1, Size);
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        // A 1 MiB buffer and no process server: every write past the first MiB must go to the dirty map.
        await site.Agent.DisposeAsync();
        site.AgentBufferBytes = 1 << 20;
        await site.StartAgentAsync();
        await site.Process.DisposeAsync();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} " + string.Join(" ", Enumerable.Range(0, 64).Select(i => $"-c \"write -P {i + 1} {i * 256}k 192k\"")) + " -c \"write -z 20M 2M\"",
            TimeSpan.FromSeconds(60));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"writes were held back for {sw.Elapsed}");
        Assert.True(site.Agent.Exports[0].Dirty.Count > 0, "the writes did not overflow into the dirty map");
        var refused = await site.Target.BookmarkAsync("during", ["disk1"], TimeSpan.FromSeconds(1), default).ContinueWith(t => t.IsFaulted ? t.Exception!.InnerException!.Message : t.Result.Error);
        Assert.NotNull(refused);

        await site.StartProcessServerAsync();
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        var bm = await site.Target.BookmarkAsync("after", ["disk1"], TimeSpan.FromSeconds(30), default);
        Assert.Null(bm.Error);
        var output = Path.Combine(site.Root, "r.img");
        await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
        Assert.Contains(site.Log, l => l.Contains("dirty regions resent"));
    }
}
