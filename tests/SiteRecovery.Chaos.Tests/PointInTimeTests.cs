using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Point-in-time recovery on a real srnode + sragent: recovery by time, a point served over NBD (read-only and
/// copy-on-write) read by nbdcopy / qemu-io / nbdinfo, and the API's refusals of points it cannot give.
/// Checkpoints are made small (64 KiB of churn, checked every second) so the views go through base + checkpoint + journal.
/// </summary>
public sealed class PointInTimeTests
{
    const long DiskSize = 32L << 20;
    const string Disk = "pit1";
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task A_point_by_time_and_over_nbd_equals_the_source_at_that_time_and_cow_writes_touch_nothing_else()
    {
        using var dir = new TempDir("pit");
        var diskPath = dir["pit1.img"];
        Files.CreateDisk(diskPath, DiskSize, seed: 11);
        var config = dir["retention.hocon"];
        // No automatic points: the test checks that nothing reaches the replica while exports are written, and an
        // automatic point's marker landing meanwhile would move the applied sequence by one (seen once in a run).
        await File.WriteAllTextAsync(config, "siterecovery.data-path.master-target { checkpoint-interval-bytes = 64KiB, retention-check-interval = 1s, auto-recovery-point-interval = off }");
        using var node = new Node("n", "all", dir["n"], dir.Path, null, "--config", config);
        await node.StartAsync();
        using var agent = new Agent("vm-pit", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        var uri = agent.Uri(Disk);

        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x21 0 2M", "-c", "write -P 0x22 4M 1M", "-c", "write -z 1M 256k"], Minute);
        var bm1 = await node.BookmarkAsync("pit-1", [Disk], Minute);
        var t1 = DateTimeOffset.UtcNow;
        var atT1 = dir["at-t1.img"];
        File.Copy(diskPath, atT1);
        var expected1 = Files.Sha256(atT1);
        await Task.Delay(50);

        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x33 512k 3M", "-c", "discard 8M 1M", "-c", "write -P 0x34 30M 2M"], Minute);
        await ExternalTool.RunOkAsync("fio", Tools.FioRandWrite(uri, "pit", 32, 4), Minute);
        var bm2 = await node.BookmarkAsync("pit-2", [Disk], Minute);
        var expected2 = Files.Sha256(diskPath);
        Assert.NotEqual(expected1, expected2);

        // Wait until a checkpoint covers part of the stream, so the points below are built from base + checkpoint + journal.
        var retention = await WaitAsync(node, async () =>
        {
            var r = await node.Api.GetAsync($"api/disks/{Disk}/retention");
            return r.Status == HttpStatusCode.OK && r.Body!["checkpoints"]!.AsArray().Count > 0 ? r.Body : null;
        }, "a checkpoint index");
        Assert.Equal(0, retention["oldestSequence"]!.GetValue<long>());

        // Recovery by time resolves to the bookmark's sequence (the last write at or before t1) and equals the source then.
        var byTime = dir["by-time.img"];
        var rec = await node.Api.PostAsync("api/recover", new { disk = Disk, time = t1.ToString("O"), output = byTime });
        Assert.True(rec.Status == HttpStatusCode.OK, rec.Text);
        Assert.Equal(bm1, rec.Body!["sequence"]!.GetValue<long>());
        Assert.Equal(expected1, rec.Body["sha256"]!.GetValue<string>());
        Assert.Equal(expected1, Files.Sha256(byTime));
        Assert.Equal(expected2, await node.RecoverAsync(Disk, "pit-2", dir["bm2.img"]));

        // Read-only export of the point at t1: nbdcopy reads it, byte-equal to the source at t1; nbdinfo sees its size, read-only.
        var ro = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { bookmark = "pit-1", writable = false });
        Assert.True(ro.Status == HttpStatusCode.OK, ro.Text);
        var roUri = ro.Body!["uri"]!.GetValue<string>();
        Assert.Equal(bm1, ro.Body["sequence"]!.GetValue<long>());
        var copied = dir["nbdcopy.img"];
        await ExternalTool.RunOkAsync("nbdcopy", [roUri, copied], Minute);
        Assert.Equal(expected1, Files.Sha256(copied));
        var info = await ExternalTool.RunOkAsync("nbdinfo", [roUri], Minute);
        Assert.Contains(DiskSize.ToString(System.Globalization.CultureInfo.InvariantCulture), info.Output, StringComparison.Ordinal);
        Assert.Contains("is_read_only: true", info.Output, StringComparison.Ordinal);
        var refused = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", roUri, "-c", "write -P 0x99 0 4k"], Minute);
        Assert.True(refused.ExitCode != 0 || refused.Output.Contains("fail", StringComparison.OrdinalIgnoreCase) || refused.Output.Contains("read-only", StringComparison.OrdinalIgnoreCase),
            $"a write to the read-only export was not refused: {refused.Output}");

        // Copy-on-write export by time: writes are visible through it; the journal and replica do not move.
        var appliedBefore = await node.AppliedAsync(Disk);
        var cow = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { time = t1.ToString("O"), writable = true, listen = "127.0.0.1:0" });
        Assert.True(cow.Status == HttpStatusCode.OK, cow.Text);
        var cowUri = cow.Body!["uri"]!.GetValue<string>();
        var cowId = cow.Body["exportId"]!.GetValue<string>();
        var io = await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", cowUri,
            "-c", "write -P 0x5a 4096 100k", "-c", "write -P 0x5b 3000 1000", "-c", "read -P 0x5a 4096 100k", "-c", "read -P 0x5b 3000 1000",
            "-c", "read -P 0x22 4M 1M", "-c", "read -P 0x21 1536k 512k"], Minute);
        Assert.DoesNotContain("fail", io.Output, StringComparison.OrdinalIgnoreCase);
        var listed = await node.Api.GetAsync($"api/disks/{Disk}/exports");
        Assert.Equal(2, listed.Body!.AsArray().Count);
        Assert.True(listed.Body.AsArray().Single(e => e!["exportId"]!.GetValue<string>() == cowId)!["overlayBytes"]!.GetValue<long>() > 0);
        Assert.Equal(appliedBefore, await node.AppliedAsync(Disk));
        Assert.Equal(expected1, (await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = bm1, output = dir["again1.img"] })).Body!["sha256"]!.GetValue<string>());
        Assert.Equal(expected2, await node.RecoverAsync(Disk, "pit-2", dir["again2.img"]));
        var overlays = Path.Combine(dir["n"], "master-target", "exports");
        Assert.Single(Directory.GetFiles(overlays));

        Assert.Equal(HttpStatusCode.OK, (await node.Api.DeleteAsync($"api/disks/{Disk}/exports/{cowId}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Api.DeleteAsync($"api/disks/{Disk}/exports/{cowId}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await node.Api.DeleteAsync($"api/disks/{Disk}/exports/{ro.Body["exportId"]!.GetValue<string>()}")).Status);
        Assert.Empty(Directory.GetFiles(overlays));
        Assert.Empty((await node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray());

        // Bad input: a clear 4xx naming what is wrong, no file written, nothing changed.
        var never = dir["never.img"];
        async Task Refused(object body, HttpStatusCode status, string mention)
        {
            var r = await node.Api.PostAsync("api/recover", body);
            Assert.True(r.Status == status, $"{System.Text.Json.JsonSerializer.Serialize(body)}: got {(int)r.Status} {r.Text}, want {(int)status} mentioning '{mention}'");
            Assert.Contains(mention, r.Error, StringComparison.Ordinal);
            Assert.False(File.Exists(never));
        }
        await Refused(new { disk = Disk, time = "2001-01-01T00:00:00Z", output = never }, HttpStatusCode.BadRequest, "outside the retention window #0");
        await Refused(new { disk = Disk, time = DateTimeOffset.UtcNow.AddHours(1).ToString("O"), output = never }, HttpStatusCode.BadRequest, "in the future");
        await Refused(new { disk = Disk, time = "yesterday-ish", output = never }, HttpStatusCode.BadRequest, "time: 'yesterday-ish'");
        await Refused(new { disk = Disk, time = t1.ToString("O"), sequence = 1, output = never }, HttpStatusCode.BadRequest, "exactly one of bookmark, sequence or time");
        await Refused(new { disk = Disk, sequence = bm2 + 1000, output = never }, HttpStatusCode.BadRequest, $"sequence: {bm2 + 1000} is past the end");
        await Refused(new { disk = Disk, bookmark = "no-such-point-7", output = never }, HttpStatusCode.NotFound, "no-such-point-7");
        var badExport = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = bm1, listen = "nowhere" });
        Assert.Equal(HttpStatusCode.BadRequest, badExport.Status);
        Assert.Contains("listen 'nowhere'", badExport.Error, StringComparison.Ordinal);
        Assert.Empty((await node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray());
        Assert.Equal(appliedBefore, await node.AppliedAsync(Disk));

        // The operator's console drives the same: recover by time, retention, export, list, close.
        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        async Task<JsonNode> Ctl(params string[] args) =>
            JsonNode.Parse((await ExternalTool.RunOkAsync("dotnet", [srctl, .. args, "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute)).StdOut)!;
        var ctlRecovered = await Ctl("recover", "--disk", Disk, "--time", t1.ToString("O"), "--out", dir["ctl-time.img"]);
        Assert.Equal(bm1, ctlRecovered["sequence"]!.GetValue<long>());
        Assert.Equal(expected1, Files.Sha256(dir["ctl-time.img"]));
        // (automatic points may have added markers after pit-2)
        Assert.True((await Ctl("retention", "--disk", Disk))["newestSequence"]!.GetValue<long>() >= bm2);
        var ctlExport = await Ctl("export", "--disk", Disk, "--bookmark", "pit-2");
        var ctlCopy = dir["ctl-nbd.img"];
        await ExternalTool.RunOkAsync("nbdcopy", [ctlExport["uri"]!.GetValue<string>(), ctlCopy], Minute);
        Assert.Equal(expected2, Files.Sha256(ctlCopy));
        Assert.Single((await Ctl("export", "--disk", Disk, "--list")).AsArray());
        await Ctl("export", "--disk", Disk, "--close", ctlExport["exportId"]!.GetValue<string>());
        Assert.Empty((await Ctl("export", "--disk", Disk, "--list")).AsArray());
        var badTime = await ExternalTool.RunAsync("dotnet", [srctl, "recover", "--disk", Disk, "--time", "soon", "--out", never, "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
        Assert.True(badTime.ExitCode != 0 && badTime.Output.Contains("time: 'soon'", StringComparison.Ordinal), badTime.Output);
    }

    /// <summary>
    /// A 3 s window on a running node: once the writes age out, the base rolls to the newest point, the journal files
    /// behind it are deleted, an old bookmark is refused naming the window, and the newest point (from the base alone)
    /// still equals the source, by file and over NBD.
    /// </summary>
    [Fact]
    public async Task Points_older_than_the_window_disappear_with_their_journal_and_the_newest_point_stays_exact()
    {
        using var dir = new TempDir("pit-window");
        const string disk = "pit2";
        var diskPath = dir["pit2.img"];
        Files.CreateDisk(diskPath, DiskSize, seed: 12);
        var config = dir["window.hocon"];
        await File.WriteAllTextAsync(config, "siterecovery.data-path.master-target { retention-window = 3s, retention-check-interval = 1s, " +
                                             "checkpoint-interval-bytes = 64KiB, journal-segment-bytes = 1MiB, auto-recovery-point-interval = off }");
        using var node = new Node("w", "all", dir["w"], dir.Path, null, "--config", config);
        await node.StartAsync();
        using var agent = new Agent("vm-window", new Dictionary<string, string> { [disk] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        var uri = agent.Uri(disk);

        // Incompressible data, so the 1 MiB journal segments really rotate and the trim has whole files to delete.
        async Task CopyRandomAsync(int seed)
        {
            var local = dir[$"random-{seed}.bin"];
            var bytes = new byte[3 << 20];
            new Random(seed).NextBytes(bytes);
            await File.WriteAllBytesAsync(local, bytes);
            await ExternalTool.RunOkAsync("nbdcopy", [local, uri], Minute);
        }
        await CopyRandomAsync(1);
        var old = await node.BookmarkAsync("old-1", [disk], Minute);
        await CopyRandomAsync(2);
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x42 4M 4M", "-c", "write -z 1M 1M"], Minute);
        var last = await node.BookmarkAsync("new-1", [disk], Minute);
        var expected = Files.Sha256(diskPath);

        var retention = await WaitAsync(node, async () =>
        {
            var r = await node.Api.GetAsync($"api/disks/{disk}/retention");
            return r.Status == HttpStatusCode.OK && r.Body!["oldestSequence"]!.GetValue<long>() == last ? r.Body : null;
        }, "base rolled to the newest point");
        Assert.Equal(last, retention["newestSequence"]!.GetValue<long>());
        Assert.Empty(retention["checkpoints"]!.AsArray());
        var journal = Path.Combine(dir["w"], "master-target", "disks", disk, "journal");
        var firsts = Directory.GetFiles(journal).Select(Path.GetFileName).Where(n => n!.Length >= 20 && char.IsDigit(n[0])).Select(n => long.Parse(n![..20])).ToList();
        Assert.True(firsts.Count > 0 && firsts.Min() > old, $"journal files still start at #{firsts.DefaultIfEmpty().Min()} although the base is at #{last}: {string.Join(", ", Directory.GetFiles(journal).Select(Path.GetFileName))}");

        // The control plane forgets the expired point (the newest one stays listed) ...
        await WaitAsync(node, async () =>
        {
            var view = await node.Api.GetAsync($"api/disks/{disk}");
            var ids = view.Body?["recoveryPoints"]?.AsArray().Select(p => p!["bookmarkId"]!.GetValue<string>()).ToList() ?? [];
            return !ids.Contains("old-1") && ids.Contains("new-1") ? view.Body : null;
        }, "expired point removed from the disk's recovery points");
        var gone = await node.Api.PostAsync("api/recover", new { disk, bookmark = "old-1", output = dir["old.img"] });
        Assert.True(gone.Status == HttpStatusCode.NotFound, gone.Text);
        Assert.Contains("old-1", gone.Error, StringComparison.Ordinal);
        // ... and the data path refuses its sequence, naming the window.
        var below = await node.Api.PostAsync("api/recover", new { disk, sequence = old, output = dir["old.img"] });
        Assert.True(below.Status == HttpStatusCode.BadRequest, below.Text);
        Assert.Contains($"outside the retention window #{last}", below.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(dir["old.img"]));

        Assert.Equal(expected, await node.RecoverAsync(disk, "new-1", dir["new.img"]));
        var export = await node.Api.PostAsync($"api/disks/{disk}/exports", new { sequence = last });
        Assert.True(export.Status == HttpStatusCode.OK, export.Text);
        var copied = dir["new-nbd.img"];
        await ExternalTool.RunOkAsync("nbdcopy", [export.Body!["uri"]!.GetValue<string>(), copied], Minute);
        Assert.Equal(expected, Files.Sha256(copied));
    }

    static async Task<JsonNode> WaitAsync(Node node, Func<Task<JsonNode?>> probe, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (await probe() is { } done) return done;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no {what} within 90 s\n{node.Logs()}");
            await Task.Delay(250);
        }
    }
}
