using System.Net;
using Akka.Configuration;
using Azure.Storage.Blobs;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Node;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A master target on page blobs with <c>azure-page-blob.snapshot-points = on</c> (Azurite): each point's marker, applied
/// while the next writes wait behind it, leaves a snapshot that downloads byte for byte as the master target's own
/// recovery of the same point; the retention pass deletes the snapshot of a point that left the window (the master
/// target's clock moved); a master target started afresh lists the remaining one.
/// </summary>
public sealed class AzurePointSnapshotTests : IDisposable
{
    const int Size = 2 << 20;
    const long T0 = 1_700_000_000_000;
    const long Minute = 60_000;
    readonly string _dir = Tools.TempDirectory("azure-point-snapshots");
    readonly string _container = AzuriteEmulator.NewContainer("points");
    readonly DeltaCompression _compression = new();
    readonly List<string> _log = [];
    long _now = T0;

    public void Dispose()
    {
        new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(_container).DeleteIfExists();
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Page-blob replicas as a node chooses them, from datapath HOCON with the setting on (so its reader is tested too).</summary>
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

    /// <summary>Delta <paramref name="delta"/> arrives at <paramref name="at"/> (the master target's clock) and is committed, as a session does.</summary>
    async Task ReceiveAsync(ReplicaDisk disk, Delta delta, long at)
    {
        Interlocked.Exchange(ref _now, at);
        await disk.Gate.WaitAsync();
        try
        {
            await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
            await disk.CommitAsync(default);
        }
        finally { disk.Gate.Release(); }
    }

    static Delta Write(long seq, long offset, int length, byte fill, byte[] image)
    {
        var data = Enumerable.Repeat(fill, length).ToArray();
        data.CopyTo(image, offset);
        return Delta.Create("d1", seq, DeltaKind.Write, offset, length, data, T0);
    }

    static void AssertSame(byte[] want, string path, string what)
    {
        var got = File.ReadAllBytes(path);
        Assert.True(got.Length == want.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var first = got.AsSpan().CommonPrefixLength(want);
        Assert.True(first == want.Length, $"{what}: first difference at byte {first}: got 0x{(first < got.Length ? got[first] : 0):x2}, want 0x{(first < want.Length ? want[first] : 0):x2}");
    }

    static async Task Until(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Each_point_is_a_snapshot_equal_to_its_recovery_pruned_with_the_window_and_listed_after_a_restart()
    {
        AzuriteEmulator.RequireRunning();
        // The disk is recorded here, so its replica must exist before the master target opens it.
        await (await Factory().OpenAsync("d1", Size)).DisposeAsync();
        var image = new byte[Size];
        var (target, disk) = await StartAsync();
        byte[] atA, atB;
        await using (target)
        {
            await ReceiveAsync(disk, Write(1, 0, 64 * 1024, 0x11, image), T0);
            await ReceiveAsync(disk, Write(2, 70_000, 3000, 0x22, image), T0);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 3, "A", T0), T0);
            atA = (byte[])image.Clone();
            await ReceiveAsync(disk, Write(4, 32 * 1024, 40_000, 0x33, image), T0 + 5 * Minute);
            await ReceiveAsync(disk, Delta.Create("d1", 5, DeltaKind.Zero, 0, 8192, ReadOnlyMemory<byte>.Empty, T0), T0 + 5 * Minute);
            Array.Clear(image, 0, 8192);
            await ReceiveAsync(disk, Delta.Bookmark("d1", 6, "B", T0), T0 + 8 * Minute);
            atB = (byte[])image.Clone();
            // After B: in the replica, never in B's snapshot.
            await ReceiveAsync(disk, Write(7, 0, 4096, 0x44, image), T0 + 8 * Minute);

            var snapshots = Assert.IsAssignableFrom<IPointSnapshots>(disk.Replica);
            var listed = await snapshots.ListPointSnapshotsAsync();
            Assert.Equal([("A", 3L), ("B", 6L)], listed.Select(s => (s.Point, s.Sequence)));
            foreach (var (snapshot, want) in listed.Zip([atA, atB]))
            {
                var fromSnapshot = Path.Combine(_dir, $"{snapshot.Point}.snapshot.img");
                var recovered = Path.Combine(_dir, $"{snapshot.Point}.recovered.img");
                await snapshots.MaterializeAsync(snapshot, fromSnapshot);
                await target.RecoverAsync("d1", snapshot.Sequence, recovered, null, default);
                AssertSame(want, recovered, $"local recovery of {snapshot.Point}");
                AssertSame(File.ReadAllBytes(recovered), fromSnapshot, $"snapshot of {snapshot.Point} against its local recovery");
            }

            // 15.5 minutes on, the 10-minute window keeps what was received from #5 on: A (#3) leaves it, B (#6) stays.
            Interlocked.Exchange(ref _now, T0 + 15 * Minute + 30_000);
            await Until(async () => (await target.RetentionWindowAsync("d1")).OldestSequence >= 5, "the window did not roll to #5");
            await Until(async () => (await snapshots.ListPointSnapshotsAsync()).All(s => s.Point != "A"), "A's snapshot was not deleted once A left the window");
            Assert.Equal(["B"], (await snapshots.ListPointSnapshotsAsync()).Select(s => s.Point));
            lock (_log) Assert.Contains(_log, l => l.Contains("1 replica snapshot(s) of points before #5 deleted"));
        }

        // A master target started afresh (a new lease on the blob) lists B's snapshot, which still holds B.
        var (again, reopened) = await StartAsync();
        await using (again)
        {
            var snapshots = (IPointSnapshots)reopened.Replica;
            var b = Assert.Single(await snapshots.ListPointSnapshotsAsync());
            Assert.Equal(("B", 6L), (b.Point, b.Sequence));
            var path = Path.Combine(_dir, "B.after-restart.img");
            await snapshots.MaterializeAsync(b, path);
            AssertSame(atB, path, "snapshot of B after a restart");
        }
    }
}
