using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Write coalescing of the page-blob replica, counted at the wire: every request that reaches Azurite goes through a
/// <see cref="FaultProxy"/> (passing bytes on) that records it. Adjacent small deltas become at most one UploadPages per
/// 4 MiB, adjacent zeroes one ClearPages, unaligned edges keep their neighbours, and nothing is in the blob before a
/// flush uploads it (so the master target's checkpoint, which follows the flush, never runs ahead of the blob).
/// </summary>
public sealed class PageBlobCoalescingTests : IAsyncLifetime
{
    const int Size = 12 * 1024 * 1024;
    const int Limit = PageBlobReplicaOptions.UploadPagesLimit;
    private readonly TempDir _dir = new();
    private readonly string _container = Azurite.NewContainer("coalesce");
    private FaultProxy _proxy = null!;

    public Task InitializeAsync()
    {
        Azurite.RequireRunning();
        _proxy = FaultProxy.Start(Azurite.Port);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await Blobs.DeleteIfExistsAsync();
        _dir.Dispose();
    }

    private BlobContainerClient Blobs => new BlobServiceClient(Azurite.ConnectionString()).GetBlobContainerClient(_container);

    private PageBlobReplicaStoreFactory Factory(bool coalesce) =>
        new(Azurite.Account(_dir, _proxy.Port), Azurite.Options(_container, coalesce: coalesce), "owner-coalesce");

    /// <summary>The blob's disk bytes read straight from Azurite, past the proxy and the store.</summary>
    private async Task<byte[]> BlobBytes(string disk) =>
        (await Blobs.GetBlobClient(disk + ".vhd").DownloadContentAsync()).Value.Content.ToArray()[..Size];

    private static Delta Write(string disk, long sequence, long offset, byte[] payload) =>
        Delta.Create(disk, sequence, DeltaKind.Write, offset, payload.Length, payload, 1);

    private static Delta Zero(string disk, long sequence, long offset, int length) =>
        Delta.Create(disk, sequence, DeltaKind.Zero, offset, length, ReadOnlyMemory<byte>.Empty, 1);

    /// <summary>Random bytes over the whole disk first, so an edge sector merged wrongly shows in the comparison.</summary>
    private async Task<byte[]> Seed(IReplicaStore store)
    {
        var reference = new byte[Size];
        new Random(5).NextBytes(reference);
        await store.WriteAsync(0, reference);
        await store.FlushAsync();
        _proxy.ClearRequests();
        return reference;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Adjacent_small_deltas_become_at_most_one_upload_per_4_MiB(bool coalesce)
    {
        // 200 deltas of 40,000 bytes (not a multiple of 512) end to end from an unaligned offset: 8,000,000 bytes.
        const int count = 200, length = 40_000, start = 1000;
        await using var store = await Factory(coalesce).OpenAsync("disk-adjacent", Size);
        var reference = await Seed(store);
        var rng = new Random(6);
        for (var i = 0; i < count; i++)
        {
            var payload = new byte[length];
            rng.NextBytes(payload);
            await ReplicaApplier.ApplyAsync(store, Write("disk-adjacent", i + 1, start + (long)i * length, payload));
            payload.CopyTo(reference, start + i * length);
        }
        await store.FlushAsync();

        var uploads = _proxy.Requests.Count(r => r.IsUploadPages);
        var want = (int)Math.Ceiling((double)count * length / Limit);
        if (coalesce)
        {
            Assert.True(uploads <= want, $"{count} adjacent deltas of {length} bytes: got {uploads} UploadPages requests, want at most {want}");
            Assert.All(_proxy.Requests.Where(r => r.IsUploadPages), r => Assert.True(r.ContentLength <= Limit && r.ContentLength % 512 == 0, $"an upload of {r.ContentLength} bytes"));
        }
        else
            Assert.True(uploads >= count, $"without coalescing: got {uploads} UploadPages requests, want one per delta ({count})");
        var got = await BlobBytes("disk-adjacent");
        var at = reference.AsSpan().CommonPrefixLength(got);
        Assert.True(at == Size, $"blob differs from the reference at offset {at} (unaligned edges must keep their neighbours)");
    }

    [Fact]
    public async Task Adjacent_zero_deltas_become_one_clear_and_order_with_writes_is_kept()
    {
        await using var store = await Factory(coalesce: true).OpenAsync("disk-zero", Size);
        var reference = await Seed(store);
        // 64 adjacent zero deltas of 48 KiB + 100 bytes from an unaligned offset: whole pages in one ClearPages, the
        // unaligned edges as zero bytes.
        long offset = 300;
        for (var i = 0; i < 64; i++)
        {
            const int length = 48 * 1024;
            await ReplicaApplier.ApplyAsync(store, Zero("disk-zero", i + 1, offset, length));
            Array.Clear(reference, (int)offset, length);
            offset += length;
        }
        // Then a write over the middle of the zeroed range and a zero over part of that write: the later one wins.
        var payload = Enumerable.Repeat((byte)0x5a, 100_000).ToArray();
        await store.WriteAsync(1_000_001, payload);
        payload.CopyTo(reference, 1_000_001);
        await store.ZeroAsync(1_050_000, 4096);
        Array.Clear(reference, 1_050_000, 4096);
        await store.FlushAsync();

        var clears = _proxy.Requests.Count(r => r.IsClearPages);
        Assert.True(clears <= 2, $"64 adjacent zero deltas, then one zero elsewhere: got {clears} ClearPages requests, want at most 2");
        var got = await BlobBytes("disk-zero");
        var at = reference.AsSpan().CommonPrefixLength(got);
        Assert.True(at == Size, $"blob differs from the reference at offset {at}");
    }

    [Fact]
    public async Task Nothing_reaches_the_blob_before_a_flush_uploads_it_and_reads_see_pending_writes()
    {
        await using var store = await Factory(coalesce: true).OpenAsync("disk-flush", Size);
        var reference = await Seed(store);
        var payload = Enumerable.Repeat((byte)0xc3, 64 * 1024).ToArray();
        await store.WriteAsync(2 * 1024 * 1024 + 7, payload);
        await store.WriteAsync(2 * 1024 * 1024 + 7 + payload.Length, payload);
        Assert.DoesNotContain(_proxy.Requests, r => r.IsUploadPages);
        var before = await BlobBytes("disk-flush");
        Assert.True(reference.AsSpan().SequenceEqual(before), "a write reached the blob before the flush");

        // A read through the store sees its own pending writes (it uploads the run it overlaps first).
        var read = new byte[payload.Length];
        await store.ReadAsync(2 * 1024 * 1024 + 7 + payload.Length, read);
        Assert.Equal(payload, read);

        await store.WriteAsync(9 * 1024 * 1024, payload);
        await store.FlushAsync();
        payload.CopyTo(reference, 2 * 1024 * 1024 + 7);
        payload.CopyTo(reference, 2 * 1024 * 1024 + 7 + payload.Length);
        payload.CopyTo(reference, 9 * 1024 * 1024);
        var after = await BlobBytes("disk-flush");
        var at = reference.AsSpan().CommonPrefixLength(after);
        Assert.True(at == Size, $"after the flush the blob differs from the reference at offset {at}");
    }

    [Fact]
    public async Task A_failed_upload_stops_the_store_and_no_later_write_passes_it()
    {
        await using var store = await Factory(coalesce: true).OpenAsync("disk-stop", Size);
        await Seed(store);
        await store.WriteAsync(0, new byte[4096]);
        _proxy.Set(FaultProxy.Mode.Answer503);
        var failed = await Assert.ThrowsAsync<PageBlobReplicaException>(() => store.FlushAsync().AsTask());
        Assert.Equal(PageBlobFailureReason.Unavailable, failed.Reason);
        _proxy.Set(FaultProxy.Mode.Pass);
        // Azurite answers again, but the run that failed was not uploaded: the store stays stopped rather than write past it.
        var stopped = await Assert.ThrowsAsync<PageBlobReplicaException>(() => store.WriteAsync(8192, new byte[512]).AsTask());
        Assert.Equal(PageBlobFailureReason.Unavailable, stopped.Reason);
        Assert.Contains("stopped at an earlier failure", stopped.Message);
        await Assert.ThrowsAsync<PageBlobReplicaException>(() => store.FlushAsync().AsTask());
    }
}
