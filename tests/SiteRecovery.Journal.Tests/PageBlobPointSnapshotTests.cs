using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Recovery points as page-blob snapshots on Azurite: a snapshot taken while writes wait in the coalescing run holds
/// them (and nothing written after it), downloads as the disk's bytes without the footer, is pruned by sequence, and is
/// listed again, with its point's name, by a store opened afresh.
/// </summary>
public sealed class PageBlobPointSnapshotTests : IAsyncLifetime
{
    const int Size = 4 * 1024 * 1024;
    private readonly TempDir _dir = new();
    private readonly string _container = Azurite.NewContainer("snapshots");

    public Task InitializeAsync()
    {
        Azurite.RequireRunning();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await new BlobServiceClient(Azurite.ConnectionString()).GetBlobContainerClient(_container).DeleteIfExistsAsync();
        _dir.Dispose();
    }

    private PageBlobReplicaStoreFactory Factory(bool snapshots = true) =>
        new(Azurite.Account(_dir), Azurite.Options(_container, coalesce: true) with { SnapshotPoints = snapshots }, "owner-snapshots");

    private static async Task Write(IReplicaStore store, byte[] image, long offset, int length, byte fill)
    {
        var data = Enumerable.Repeat(fill, length).ToArray();
        data.CopyTo(image, offset);
        await store.WriteAsync(offset, data);
    }

    private void AssertFileEquals(byte[] want, string path, string what)
    {
        var got = File.ReadAllBytes(path);
        Assert.True(got.Length == want.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var first = got.AsSpan().CommonPrefixLength(want);
        Assert.True(first == want.Length, $"{what}: first difference at byte {first}: got 0x{(first < got.Length ? got[first] : 0):x2}, want 0x{(first < want.Length ? want[first] : 0):x2}");
    }

    [Fact]
    public async Task Each_snapshot_holds_its_points_bytes_is_pruned_by_sequence_and_survives_a_reopen()
    {
        var image = new byte[Size];
        const string b = "point b/é 100%";
        await using (var store = (PageBlobReplicaStore)await Factory().OpenAsync("d1", Size))
        {
            Assert.True(store.SnapshotsPoints);
            // Unaligned and adjacent: these wait in the coalescing run, never flushed before the snapshot.
            await Write(store, image, 0, 64 * 1024, 0x11);
            await Write(store, image, 64 * 1024, 1000, 0x22);
            await Write(store, image, 1_000_000, 3000, 0x23);
            var a = await store.SnapshotPointAsync("A", 3);
            var atA = (byte[])image.Clone();

            await Write(store, image, 32 * 1024, 40_000, 0x33);
            await store.ZeroAsync(0, 8192);
            Array.Clear(image, 0, 8192);
            await Write(store, image, Size - 700, 700, 0x34);
            var atB = (byte[])image.Clone();
            var snapB = await store.SnapshotPointAsync(b, 7);
            // After B: in the replica, never in B's snapshot.
            await Write(store, image, 0, 4096, 0x44);
            await store.FlushAsync();

            Assert.Equal([("A", 3L), (b, 7L)], (await store.ListPointSnapshotsAsync()).Select(s => (s.Point, s.Sequence)));
            await store.MaterializeAsync(a, Path.Combine(_dir.Path, "a.img"));
            AssertFileEquals(atA, Path.Combine(_dir.Path, "a.img"), "snapshot of A");
            await store.MaterializeAsync(snapB, Path.Combine(_dir.Path, "b.img"));
            AssertFileEquals(atB, Path.Combine(_dir.Path, "b.img"), "snapshot of B");

            Assert.Equal(0, await store.PrunePointSnapshotsAsync(3));
            Assert.Equal(1, await store.PrunePointSnapshotsAsync(4));
            Assert.Equal([7L], (await store.ListPointSnapshotsAsync()).Select(s => s.Sequence));
        }

        // Another opener (after a restart) finds B by its name from the service alone.
        await using (var reopened = (PageBlobReplicaStore)await Factory().OpenAsync("d1", Size))
        {
            var listed = Assert.Single(await reopened.ListPointSnapshotsAsync());
            Assert.Equal((b, 7L), (listed.Point, listed.Sequence));
            await reopened.MaterializeAsync(listed, Path.Combine(_dir.Path, "b2.img"));
            var atB = File.ReadAllBytes(Path.Combine(_dir.Path, "b.img"));
            AssertFileEquals(atB, Path.Combine(_dir.Path, "b2.img"), "snapshot of B after a reopen");
        }
    }

    [Fact]
    public async Task The_setting_defaults_to_off()
    {
        await using var store = (PageBlobReplicaStore)await Factory(snapshots: false).OpenAsync("d2", Size);
        Assert.False(store.SnapshotsPoints);
        Assert.False(Azurite.Options(_container).SnapshotPoints);
    }
}
