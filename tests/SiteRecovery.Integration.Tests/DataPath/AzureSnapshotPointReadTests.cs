using System.Net;
using System.Text.Json;
using Akka.Configuration;
using Azure.Storage.Blobs;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Node;
using SiteRecovery.Node.Exports;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// Points read from blob storage (Azurite): a master target on page blobs with <c>snapshot-points = on</c> opens each
/// point from the newest snapshot at or below it plus the journal's records after it (through a checkpoint too), and
/// (a) materializes it to a local image, (b) serves it over NBD through the export path (read by qemu-img), (c) writes it
/// as a new page blob that is a valid fixed VHD (qemu-img info -f vpc, converted back to raw): each byte for byte equal
/// to the source at the point and to the master target's local recovery. Refusals name what is wrong and write nothing;
/// once the window passes a snapshot it is pruned and no point is read from it.
/// </summary>
public sealed class AzureSnapshotPointReadTests : IDisposable
{
    // Four retention blocks (1 MiB each) and a half, so block edges and a short last block are crossed.
    const int Size = (4 << 20) + (512 << 10);
    const long T0 = 1_700_000_000_000;
    const long Minute = 60_000;
    static readonly TimeSpan ToolTimeout = TimeSpan.FromMinutes(2);
    readonly string _dir = Tools.TempDirectory("azure-snapshot-point-reads");
    readonly string _container = AzuriteEmulator.NewContainer("pointreads");
    readonly DeltaCompression _compression = new();
    readonly List<string> _log = [];
    readonly Dictionary<long, byte[]> _at = [];
    readonly byte[] _image = new byte[Size];
    long _now = T0;

    public void Dispose()
    {
        new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(_container).DeleteIfExists();
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    BlobContainerClient Container => new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(_container);

    IReplicaStoreFactory Factory() => ReplicaStores.Create(ConfigurationFactory.ParseString(
            $"siterecovery.data-path.master-target {{ replica-store = azure-page-blob, azure-page-blob {{ connection-file = \"{AzuriteEmulator.WriteAccountFile(_dir)}\", " +
            $"container = {_container}, lease-duration = 15s, lease-renew-interval = 5s, snapshot-points = on }} }}").WithFallback(DataPathSettings.Load(null)),
        Path.Combine(_dir, "mt"), "mt-1", new Dictionary<string, string>());

    async Task<(MasterTargetServer Target, ReplicaDisk Disk)> StartAsync()
    {
        var mt = Path.Combine(_dir, "mt");
        Directory.CreateDirectory(Path.Combine(mt, "disks", "d1"));
        await File.WriteAllTextAsync(Path.Combine(mt, "disks", "d1", "disk.json"), $"{{\"DiskId\":\"d1\",\"SizeBytes\":{Size}}}");
        var target = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), mt)
        {
            Clock = () => Interlocked.Read(ref _now),
            Retention = new RetentionOptions { Window = TimeSpan.FromMinutes(10), ReceiveTimeSampleInterval = TimeSpan.Zero },
            RetentionCheckInterval = TimeSpan.FromMilliseconds(50),
            ReplicaFlushInterval = TimeSpan.Zero,
        }, Factory(), new NoDataPathEvents(), l => { lock (_log) _log.Add(l); });
        await target.StartAsync();
        return (target, await target.GetDiskAsync("d1"));
    }

    /// <summary>Delta <paramref name="delta"/> arrives at <paramref name="at"/> and is committed, as a session does; the source's bytes after it are kept.</summary>
    async Task ReceiveAsync(ReplicaDisk disk, Delta delta, long at)
    {
        Interlocked.Exchange(ref _now, at);
        if (delta.Kind == DeltaKind.Write) delta.Payload.Span.CopyTo(_image.AsSpan((int)delta.Offset));
        else if (delta.Kind == DeltaKind.Zero) Array.Clear(_image, (int)delta.Offset, delta.Length);
        await disk.Gate.WaitAsync();
        try
        {
            await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
            await disk.CommitAsync(default);
        }
        finally { disk.Gate.Release(); }
        _at[delta.Sequence] = (byte[])_image.Clone();
    }

    static Delta Write(long seq, long offset, int length, byte fill) =>
        Delta.Create("d1", seq, DeltaKind.Write, offset, length, Enumerable.Range(0, length).Select(i => (byte)(fill + i % 7)).ToArray(), T0);

    static void AssertSame(byte[] want, byte[] got, string what)
    {
        Assert.True(got.Length == want.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var first = got.AsSpan().CommonPrefixLength(want);
        Assert.True(first == want.Length, $"{what}: first difference at byte {first}: got 0x{(first < got.Length ? got[first] : 0):x2}, want 0x{(first < want.Length ? want[first] : 0):x2}");
    }

    static async Task Until(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(50);
        }
    }

    string Path_(string name) => Path.Combine(_dir, name);

    [Fact]
    public async Task Each_point_read_from_its_snapshot_and_the_journal_after_it_is_the_source_at_the_point_as_an_image_over_nbd_and_as_a_vhd_blob()
    {
        AzuriteEmulator.RequireRunning();
        await (await Factory().OpenAsync("d1", Size)).DisposeAsync();
        var (target, disk) = await StartAsync();
        await using (target)
        {
            await ReceiveAsync(disk, Write(1, 0, 64 * 1024, 0x11), T0);
            await ReceiveAsync(disk, Write(2, (1 << 20) - 700, 3000, 0x22), T0);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 3, "A", T0), T0);
            await ReceiveAsync(disk, Write(4, 32 * 1024, 40_000, 0x33), T0 + 5 * Minute);
            await ReceiveAsync(disk, Delta.Create("d1", 5, DeltaKind.Zero, 0, 8192, ReadOnlyMemory<byte>.Empty, T0), T0 + 5 * Minute);
            // A checkpoint at #5 describes (0, 5]: a point above it read on A's snapshot (#3) keeps only its extents after #3.
            disk.Retention.MaybeCheckpoint(force: true);
            Assert.Contains(5L, disk.Retention.Checkpoints);
            await ReceiveAsync(disk, Write(6, (3 << 20) - 100, 200_000, 0x44), T0 + 6 * Minute);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 7, "B", T0), T0 + 8 * Minute);
            await ReceiveAsync(disk, Write(8, Size - 1000, 1000, 0x55), T0 + 8 * Minute);
            await ReceiveAsync(disk, Write(9, 1000, 5000, 0x66), T0 + 8 * Minute);

            var snapshots = Assert.IsAssignableFrom<IPointSnapshots>(disk.Replica);
            Assert.Equal([3L, 7L], (await snapshots.ListPointSnapshotsAsync()).Select(s => s.Sequence));

            // (a) Local images: every point from A on, each from the newest snapshot at or below it.
            foreach (var (point, snapshotAt) in new (long, long)[] { (3, 3), (4, 3), (5, 3), (6, 3), (7, 7), (9, 7) })
            {
                var fromBlob = Path_($"p{point}.blob.img");
                var local = Path_($"p{point}.local.img");
                var result = await target.RecoverFromSnapshotAsync("d1", point, fromBlob, null, default);
                await target.RecoverAsync("d1", point, local, null, default);
                Assert.Equal(point, result.ThroughSequence);
                AssertSame(_at[point], File.ReadAllBytes(fromBlob), $"#{point} read from blob storage");
                AssertSame(File.ReadAllBytes(local), File.ReadAllBytes(fromBlob), $"#{point} from blob storage against its local recovery");
                lock (_log) Assert.Contains(_log, l => l.Contains($"#{point} opened from replica snapshot") && l.Contains($"at #{snapshotAt} and {point - snapshotAt} journal record(s)"));
            }

            // (b) Over NBD through the export path: #6 on A's snapshot, read whole by qemu-img's NBD client.
            await using (var exports = new PointInTimeExports(Path_("overlays"), l => { lock (_log) _log.Add(l); }))
            {
                var served = await exports.AddAsync("d1", await target.OpenSnapshotViewAsync("d1", 6), writable: false, new IPEndPoint(IPAddress.Loopback, 0));
                var copy = Path_("p6.nbd.raw");
                await ExternalTool.RunOkAsync("qemu-img", ["convert", "-f", "raw", "-O", "raw", served.Uri, copy], ToolTimeout);
                AssertSame(_at[6], File.ReadAllBytes(copy), $"#6 served over NBD from blob storage ({served.Uri})");
            }

            // (c) A new page blob beside the replica: a fixed VHD of #6 (the footer is the blob's last 512 bytes).
            var written = await target.WritePointBlobAsync("d1", 6, "points/d1-at-6.vhd", null, default);
            Assert.Equal(6, written.Sequence);
            Assert.DoesNotContain("sig=", written.Uri.Query);
            var vhd = Path_("p6.vhd");
            await Container.GetBlobClient("points/d1-at-6.vhd").DownloadToAsync(vhd);
            Assert.Equal(Size + 512, new FileInfo(vhd).Length);
            using (var info = JsonDocument.Parse((await ExternalTool.RunOkAsync("qemu-img", ["info", "-f", "vpc", "--output=json", vhd], ToolTimeout)).StdOut))
            {
                Assert.Equal("vpc", info.RootElement.GetProperty("format").GetString());
                Assert.Equal(Size, info.RootElement.GetProperty("virtual-size").GetInt64());
            }
            var raw = Path_("p6.vhd.raw");
            await ExternalTool.RunOkAsync("qemu-img", ["convert", "-f", "vpc", "-O", "raw", vhd, raw], ToolTimeout);
            AssertSame(_at[6], File.ReadAllBytes(raw), "#6 written as a page blob, converted back to raw by qemu-img");
            var before = (await Container.GetBlobClient("points/d1-at-6.vhd").GetPropertiesAsync()).Value.ETag;

            // Refusals change nothing: never over an existing blob (the replica's own included), never a point below every snapshot.
            var exists = await Assert.ThrowsAsync<InvalidOperationException>(() => target.WritePointBlobAsync("d1", 9, "points/d1-at-6.vhd", null, default));
            Assert.Contains("exists already", exists.Message);
            Assert.Equal(before, (await Container.GetBlobClient("points/d1-at-6.vhd").GetPropertiesAsync()).Value.ETag);
            await Assert.ThrowsAsync<InvalidOperationException>(() => target.WritePointBlobAsync("d1", 9, "d1.vhd", null, default));
            var badName = await Assert.ThrowsAsync<ArgumentException>(() => target.WritePointBlobAsync("d1", 9, "d1-at-9.img", null, default));
            Assert.Contains("must end in .vhd", badName.Message);
            var below = await Assert.ThrowsAsync<PointInTimeUnavailableException>(() => target.RecoverFromSnapshotAsync("d1", 2, Path_("p2.img"), null, default));
            Assert.Contains("no point snapshot", below.Message);
            Assert.False(File.Exists(Path_("p2.img")));

            // The window passes A (#3): its snapshot is pruned, and a point it served is refused rather than read from a stale one.
            Interlocked.Exchange(ref _now, T0 + 15 * Minute + 30_000);
            await Until(async () => (await target.RetentionWindowAsync("d1")).OldestSequence >= 5, "the window did not roll to #5");
            await Until(async () => (await snapshots.ListPointSnapshotsAsync()).All(s => s.Sequence != 3), "A's snapshot was not deleted once A left the window");
            var pruned = await Assert.ThrowsAsync<PointInTimeUnavailableException>(() => target.RecoverFromSnapshotAsync("d1", 6, Path_("p6.after.img"), null, default));
            Assert.Contains("snapshots at #7", pruned.Message);
            await target.RecoverFromSnapshotAsync("d1", 9, Path_("p9.after.img"), null, default);
            AssertSame(_at[9], File.ReadAllBytes(Path_("p9.after.img")), "#9 from B's snapshot after A was pruned");
        }
    }

    /// <summary>
    /// A snapshot an open view reads outlives the window passing it: the view pins its point, not its snapshot, so
    /// without a hold the next pruning pass would delete the snapshot under an export. An older snapshot nobody reads is
    /// pruned in the same pass (so the pass is known to have run), the held one only once the view is closed.
    /// </summary>
    [Fact]
    public async Task A_snapshot_an_open_view_reads_is_not_pruned_until_the_view_closes()
    {
        AzuriteEmulator.RequireRunning();
        await (await Factory().OpenAsync("d1", Size)).DisposeAsync();
        var (target, disk) = await StartAsync();
        await using (target)
        {
            await ReceiveAsync(disk, Delta.Bookmark("d1", 1, "Z", T0), T0);
            await ReceiveAsync(disk, Write(2, 100_000, 2 << 20, 0x11), T0);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 3, "A", T0), T0);
            await ReceiveAsync(disk, Write(4, (3 << 20) + 5, 1 << 20, 0x22), T0);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 5, "B", T0), T0);
            await ReceiveAsync(disk, Write(6, 0, 4096, 0x33), T0);
            var snapshots = Assert.IsAssignableFrom<IPointSnapshots>(disk.Replica);
            Assert.Equal([1L, 3L, 5L], (await snapshots.ListPointSnapshotsAsync()).Select(s => s.Sequence));

            using (var view = await target.OpenSnapshotViewAsync("d1", 4))
            {
                Assert.Equal(3, view.BaseSequence);
                // The window passes every write; the view's point (#4) holds it there, above A's snapshot (#3).
                Interlocked.Exchange(ref _now, T0 + 15 * Minute);
                await Until(async () => (await target.RetentionWindowAsync("d1")).OldestSequence == 4, "the window did not roll to the view's point #4");
                await Until(async () => (await snapshots.ListPointSnapshotsAsync()).All(s => s.Sequence != 1), "Z's snapshot (#1) was not pruned once the window passed it");
                Assert.Contains(3L, (await snapshots.ListPointSnapshotsAsync()).Select(s => s.Sequence));
                var read = new byte[Size];
                view.Read(0, read);
                AssertSame(_at[4], read, "#4 read on A's snapshot after the window passed it");
            }
            await Until(async () => (await snapshots.ListPointSnapshotsAsync()).All(s => s.Sequence != 3), "A's snapshot (#3) was not pruned once the view reading it closed");
        }
    }

    /// <summary>
    /// The same through a real agent and process server: qemu-io writes through the agent's NBD disk, a bookmark (its
    /// snapshot), more writes (unaligned, a discard); the latest point read from the bookmark's snapshot and the journal
    /// after it equals the source disk byte for byte.
    /// </summary>
    [Fact]
    public async Task Through_a_real_agent_the_latest_point_read_from_the_bookmarks_snapshot_and_the_journal_is_the_source()
    {
        AzuriteEmulator.RequireRunning();
        const long size = 16L << 20;
        var config = ConfigurationFactory.ParseString(
                $"siterecovery.data-path.master-target {{ replica-store = azure-page-blob, azure-page-blob {{ connection-file = \"{AzuriteEmulator.WriteAccountFile(_dir)}\", " +
                $"container = {_container}, snapshot-points = on }} }}").WithFallback(DataPathSettings.Load(null));
        await using var site = await Site.StartAsync("azure-snapshot-reads", 1, size, configure: s =>
            s.WrapReplicas = _ => ReplicaStores.Create(config, Path.Combine(s.Root, "mt"), "mt-1", new Dictionary<string, string>()));
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xab 0 1M\" -c \"write -P 0xcd 513k 61k\" -c \"write -P 0x11 14M 2M\"", ToolTimeout);
        var bm = await site.Target.BookmarkAsync("bm-1", ["disk1"], TimeSpan.FromSeconds(60), default);
        Assert.Null(bm.Error);
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xee 100k 3M\" -c \"write -P 0x5a 7001 999\" -c \"discard 8M 1M\"", ToolTimeout);
        await site.CatchUpAsync(TimeSpan.FromSeconds(120));

        var latest = site.Target.Disks["disk1"].AppliedThrough;
        Assert.True(latest > bm.Sequences["disk1"], $"the writes after the bookmark (#{bm.Sequences["disk1"]}) reached the master target: latest #{latest}");
        var fromBlob = Path.Combine(site.Root, "disk1.from-blob");
        var result = await site.Target.RecoverFromSnapshotAsync("disk1", latest, fromBlob, null, default);
        Assert.True(result.DeltaCount > 0, "the point was read with journal records after the bookmark's snapshot");
        AssertSame(File.ReadAllBytes(site.DiskPaths[0]), File.ReadAllBytes(fromBlob), $"latest point #{latest} read from the bookmark's snapshot and the journal");
    }
}
