using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Points read from blob storage through the HTTP API and srctl of a real srnode whose master target keeps its replicas as
/// page blobs on Azurite with a snapshot per recovery point, fed by a real sragent: <c>POST /api/recover</c> with
/// <c>"from": "snapshot"</c> into a local image and into a new page blob, and <c>POST /api/disks/{id}/exports</c> with the
/// same, read by nbdcopy. A point after the bookmark is read from the bookmark's snapshot plus the journal after it, and
/// every copy equals the source disk at that point byte for byte. Then the refusals: each a 400 naming what is wrong, with
/// nothing written (no image, no blob, no export). A node on local replicas refuses the source by name.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AzurePointApiTests
{
    const long DiskBytes = 16L << 20;
    const string Disk = "vm1-boot";
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    static string Srctl => Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    /// <summary>A node with <paramref name="replicaStore"/> HOCON, no automatic points (the test's bookmarks are the only points) and an agent whose initial sync is done.</summary>
    static async Task<(Node Node, Agent Agent, string DiskPath)> StartAsync(TempDir dir, string replicaStore)
    {
        var conf = dir["node.conf"];
        await File.WriteAllTextAsync(conf, $"siterecovery.data-path.master-target {{ auto-recovery-point-interval = off\n{replicaStore} }}\n");
        var node = new Node("azpt", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        var path = dir[$"{Disk}.img"];
        await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(DiskBytes);
        var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = path }, node.PsAddress, dir["agent-vm1"], dir.Path);
        await agent.StartAsync();
        await agent.Process!.WaitForLineAsync(l => l.Contains("\"resync-complete\"", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "the initial sync's end");
        return (node, agent, path);
    }

    static async Task WriteAsync(Agent agent, params string[] commands) =>
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), .. commands.SelectMany(c => new[] { "-c", c })], Minute);

    static void AssertSame(byte[] want, ReadOnlySpan<byte> got, string what)
    {
        Assert.True(got.Length == want.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var same = got.CommonPrefixLength(want);
        if (same != want.Length) Assert.Fail($"{what}: first difference at byte {same}: got 0x{got[same]:x2}, want 0x{want[same]:x2}");
    }

    static async Task<JsonNode> CtlAsync(Node node, params string[] args) =>
        JsonNode.Parse((await ExternalTool.RunOkAsync("dotnet", [Srctl, .. args, "--json", "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute)).StdOut)!;

    [Fact]
    public async Task A_point_read_from_blob_storage_through_the_api_and_srctl_as_an_image_a_page_blob_and_an_nbd_export_is_the_source_at_the_point()
    {
        AzuriteEmulator.RequireRunning();
        using var dir = new TempDir("azure-point-api");
        var container = AzuriteEmulator.NewContainer("azpt");
        var blobs = new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(container);
        var (node, agent, diskPath) = await StartAsync(dir, "replica-store = azure-page-blob\n" +
            $"azure-page-blob {{ connection-file = \"{AzuriteEmulator.WriteAccountFile(dir.Path)}\", container = {container}, lease-duration = 15s, lease-renew-interval = 5s, snapshot-points = on }}");
        try
        {
            // The bookmark's snapshot, then unaligned writes and a discard after it, then a second bookmark: the write before
            // that marker is a point read from the first snapshot plus the journal's records after it.
            await WriteAsync(agent, "write -P 0x5a 0 3M", "write -P 0xc3 5243393 70001", "write -P 0x17 15M 1M");
            var p1 = await node.BookmarkAsync("p1", [Disk], Minute);
            var atP1 = await File.ReadAllBytesAsync(diskPath);
            await WriteAsync(agent, "write -P 0xee 100k 2M", "write -P 0x42 7001 999", "discard 15M 512k", "write -P 0x99 9M 3M");
            var p2 = await node.BookmarkAsync("p2", [Disk], Minute);
            var atPoint = await File.ReadAllBytesAsync(diskPath);
            var point = p2 - 1;
            Assert.True(point > p1 + 1, $"the writes after p1 (#{p1}) reached the master target before p2 (#{p2})");

            // (a) A local image, by sequence and by bookmark.
            var image = dir["point.from-blob.img"];
            var rec = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", output = image });
            Assert.True(rec.Status == HttpStatusCode.OK, rec.Text);
            Assert.Equal("snapshot", rec.Body!["from"]!.GetValue<string>());
            Assert.Equal(p1, rec.Body["snapshot"]!.GetValue<long>());
            Assert.True(rec.Body["deltas"]!.GetValue<long>() > 0, $"journal records were read on top of the snapshot: {rec.Text}");
            AssertSame(atPoint, await File.ReadAllBytesAsync(image), $"#{point} recovered from blob storage");
            Assert.Equal(Files.Sha256(image), rec.Body["sha256"]!.GetValue<string>());
            Assert.True(node.Process!.HasLine(l => l.Contains($"#{point} opened from replica snapshot", StringComparison.Ordinal)), "the node logged no read of the point from a replica snapshot");
            var byBookmark = await node.Api.PostAsync("api/recover", new { disk = Disk, bookmark = "p1", from = "snapshot", output = dir["p1.from-blob.img"] });
            Assert.True(byBookmark.Status == HttpStatusCode.OK, byBookmark.Text);
            Assert.Equal(p1, byBookmark.Body!["snapshot"]!.GetValue<long>());
            AssertSame(atP1, await File.ReadAllBytesAsync(dir["p1.from-blob.img"]), $"p1 (#{p1}) recovered from blob storage");

            // (b) A new page blob beside the replica: the disk's bytes, then a fixed-VHD footer qemu-img reads.
            var toBlob = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = "points/vm1-boot-at-point.vhd" });
            Assert.True(toBlob.Status == HttpStatusCode.OK, toBlob.Text);
            Assert.Equal(p1, toBlob.Body!["snapshot"]!.GetValue<long>());
            Assert.Null(toBlob.Body["sha256"]);
            Assert.EndsWith($"/{container}/points/vm1-boot-at-point.vhd", toBlob.Body["blob"]!.GetValue<string>());
            var vhd = dir["point.vhd"];
            await blobs.GetBlobClient("points/vm1-boot-at-point.vhd").DownloadToAsync(vhd);
            var vhdBytes = await File.ReadAllBytesAsync(vhd);
            Assert.Equal(DiskBytes + 512, vhdBytes.Length);
            AssertSame(atPoint, vhdBytes.AsSpan(0, (int)DiskBytes), $"#{point} written as a page blob from blob storage");
            var info = JsonNode.Parse((await ExternalTool.RunOkAsync("qemu-img", ["info", "--output=json", "-f", "vpc", vhd], Minute)).StdOut)!;
            Assert.Equal(DiskBytes, info["virtual-size"]!.GetValue<long>());

            // (c) Served over NBD from blob storage, read whole by nbdcopy.
            var export = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = point, from = "snapshot" });
            Assert.True(export.Status == HttpStatusCode.OK, export.Text);
            Assert.Equal("snapshot", export.Body!["from"]!.GetValue<string>());
            Assert.Equal(p1, export.Body["snapshot"]!.GetValue<long>());
            var copied = dir["point.nbd.img"];
            await ExternalTool.RunOkAsync("nbdcopy", [export.Body["uri"]!.GetValue<string>(), copied], Minute);
            AssertSame(atPoint, await File.ReadAllBytesAsync(copied), $"#{point} served over NBD from blob storage");
            Assert.Equal(HttpStatusCode.OK, (await node.Api.DeleteAsync($"api/disks/{Disk}/exports/{export.Body["exportId"]!.GetValue<string>()}")).Status);

            // (d) srctl drives the same.
            var ctlImage = dir["ctl.from-blob.img"];
            var ctlRec = await CtlAsync(node, "recover", "--disk", Disk, "--sequence", $"{point}", "--from", "snapshot", "--out", ctlImage);
            Assert.Equal(p1, ctlRec["snapshot"]!.GetValue<long>());
            AssertSame(atPoint, await File.ReadAllBytesAsync(ctlImage), $"#{point} recovered from blob storage by srctl");
            var ctlBlob = await CtlAsync(node, "recover", "--disk", Disk, "--bookmark", "p1", "--from", "snapshot", "--blob", "points/ctl-p1.vhd");
            Assert.EndsWith("/points/ctl-p1.vhd", ctlBlob["blob"]!.GetValue<string>());
            var ctlVhd = (await blobs.GetBlobClient("points/ctl-p1.vhd").DownloadContentAsync()).Value.Content.ToArray();
            AssertSame(atP1, ctlVhd.AsSpan(0, (int)DiskBytes), "p1 written as a page blob by srctl");
            var ctlExport = await CtlAsync(node, "export", "--disk", Disk, "--sequence", $"{point}", "--from", "snapshot");
            Assert.Equal(p1, ctlExport["snapshot"]!.GetValue<long>());
            var ctlCopy = dir["ctl.nbd.img"];
            await ExternalTool.RunOkAsync("nbdcopy", [ctlExport["uri"]!.GetValue<string>(), ctlCopy], Minute);
            AssertSame(atPoint, await File.ReadAllBytesAsync(ctlCopy), $"#{point} exported from blob storage by srctl");
            await CtlAsync(node, "export", "--disk", Disk, "--close", ctlExport["exportId"]!.GetValue<string>());

            // (e) Refusals: a 400 naming what is wrong; no image, no blob, no export, the blob already there untouched.
            var pointBlob = blobs.GetBlobClient("points/vm1-boot-at-point.vhd");
            var etag = (await pointBlob.GetPropertiesAsync()).Value.ETag;
            var never = dir["never.img"];
            async Task RefusedAsync(string path, object body, string mention)
            {
                var r = await node.Api.PostAsync(path, body);
                Assert.True(r.Status == HttpStatusCode.BadRequest, $"{path} {JsonSerializer.Serialize(body)}: got {(int)r.Status} {r.Text}, want 400 mentioning '{mention}'");
                Assert.Contains(mention, r.Error, StringComparison.Ordinal);
                Assert.False(File.Exists(never), $"{JsonSerializer.Serialize(body)} left {never}");
            }
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, from = "tape", output = never }, "from: 'tape' is not a source of points");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = "points/at-point.img" }, "must end in .vhd");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = "points/vm1-boot-at-point.vhd" }, "exists already");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = $"{Disk}.vhd" }, "exists already");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, blob = "points/never.vhd" }, "add \"from\": \"snapshot\"");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = "points/never.vhd", output = never }, "not both");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = p1 - 1, from = "snapshot", output = never }, "no point snapshot of its replica lies between");
            await RefusedAsync("api/recover", new { disk = Disk, sequence = p1 - 1, from = "snapshot", blob = "points/never.vhd" }, "no point snapshot of its replica lies between");
            await RefusedAsync($"api/disks/{Disk}/exports", new { sequence = point, from = "tape" }, "from: 'tape' is not a source of points");
            await RefusedAsync($"api/disks/{Disk}/exports", new { sequence = p1 - 1, from = "snapshot" }, "no point snapshot of its replica lies between");
            Assert.Equal(etag, (await pointBlob.GetPropertiesAsync()).Value.ETag);
            Assert.False(await blobs.GetBlobClient("points/never.vhd").ExistsAsync());
            Assert.False(await blobs.GetBlobClient("points/at-point.img").ExistsAsync());
            Assert.Empty((await node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray());
            var badCtl = await ExternalTool.RunAsync("dotnet", [Srctl, "recover", "--disk", Disk, "--sequence", $"{point}", "--from", "tape", "--out", never,
                "--api", node.ApiUrl, "--token-file", node.AdminTokenFile], Minute);
            Assert.True(badCtl.ExitCode != 0 && badCtl.Output.Contains("from: 'tape'", StringComparison.Ordinal), badCtl.Output);

            // The same authorization as any recovery: an operator's token may not write a point anywhere.
            var token = await node.Api.PostAsync("api/tokens", new { name = "oncall", role = "operator" });
            Assert.True(token.Status == HttpStatusCode.OK, token.Text);
            using var op = node.Api.As(token.Body!["token"]!.GetValue<string>());
            var forbidden = await op.PostAsync("api/recover", new { disk = Disk, sequence = point, from = "snapshot", blob = "points/by-operator.vhd" });
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.Status);
            Assert.False(await blobs.GetBlobClient("points/by-operator.vhd").ExistsAsync());
        }
        finally
        {
            agent.Dispose();
            node.Dispose();
            await blobs.DeleteIfExistsAsync();
        }
    }

    [Fact]
    public async Task A_disk_on_a_local_replica_refuses_points_from_blob_storage_naming_why_and_writes_nothing()
    {
        using var dir = new TempDir("azure-point-api-local");
        var (node, agent, _) = await StartAsync(dir, "replica-store = local");
        try
        {
            await WriteAsync(agent, "write -P 0x5a 0 1M");
            var p1 = await node.BookmarkAsync("p1", [Disk], Minute);
            var never = dir["never.img"];
            foreach (var (path, body, mention) in new (string, object, string)[]
            {
                ("api/recover", new { disk = Disk, sequence = p1, from = "snapshot", output = never }, $"from: disk {Disk}: its replica is not a page blob"),
                ("api/recover", new { disk = Disk, bookmark = "p1", from = "snapshot", blob = "points/p1.vhd" }, $"from: disk {Disk}: its replica is not a page blob"),
                ($"api/disks/{Disk}/exports", new { sequence = p1, from = "snapshot" }, $"from: disk {Disk}: its replica is not a page blob"),
            })
            {
                var r = await node.Api.PostAsync(path, body);
                Assert.True(r.Status == HttpStatusCode.BadRequest, $"{path} {JsonSerializer.Serialize(body)}: got {(int)r.Status} {r.Text}, want 400 mentioning '{mention}'");
                Assert.Contains(mention, r.Error, StringComparison.Ordinal);
            }
            Assert.False(File.Exists(never));
            Assert.Empty((await node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray());
            // The master target's own retention still serves the point.
            var local = await node.Api.PostAsync("api/recover", new { disk = Disk, bookmark = "p1", from = "retention", output = dir["p1.img"] });
            Assert.True(local.Status == HttpStatusCode.OK, local.Text);
            Assert.Equal("retention", local.Body!["from"]!.GetValue<string>());
        }
        finally
        {
            agent.Dispose();
            node.Dispose();
        }
    }
}
