using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Behaviour every replica backend must share: the one conformance suite. Each backend is a subclass that says how to make
/// its factory (<see cref="LocalFileReplicaStoreConformanceTests"/>, <see cref="PageBlobReplicaStoreConformanceTests"/>);
/// a new backend adds a subclass, never a copy of these cases.
/// </summary>
public abstract class ReplicaStoreConformanceTests : IAsyncLifetime
{
    /// <summary>A factory of this backend whose stores are fenced to <paramref name="owner"/>; every call of one test sees the same replicas.</summary>
    protected abstract IReplicaStoreFactory Factory(string owner);

    public virtual Task InitializeAsync() => Task.CompletedTask;
    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task RandomWritesZerosAndReadsMatchReference()
    {
        const long size = 3 * 1024 * 1024 + 512; // not a power of two: edges matter
        var reference = new byte[size];
        var rng = new Random(1234);
        var factory = Factory("owner-a");
        var store = await factory.OpenAsync("disk-1", size);
        try
        {
            Assert.Equal("disk-1", store.DiskId);
            Assert.Equal(size, store.Size);
            for (var i = 0; i < 300; i++)
            {
                var length = rng.Next(0, 3) == 0 ? rng.Next(1, 2 * 1024 * 1024) : rng.Next(0, 9000);
                var offset = rng.NextInt64(0, size - length + 1);
                switch (rng.Next(0, 4))
                {
                    case 0:
                    case 1:
                        var data = new byte[length];
                        rng.NextBytes(data);
                        await store.WriteAsync(offset, data);
                        data.CopyTo(reference, offset);
                        break;
                    case 2:
                        await store.ZeroAsync(offset, length);
                        Array.Clear(reference, (int)offset, length);
                        break;
                    default:
                        var buffer = new byte[length];
                        await store.ReadAsync(offset, buffer);
                        Assert.True(reference.AsSpan((int)offset, length).SequenceEqual(buffer), $"read {offset}+{length} differs at op {i}");
                        break;
                }
                if (i % 50 == 0) await store.FlushAsync();
            }
            await store.FlushAsync();
        }
        finally
        {
            await store.DisposeAsync();
        }

        // Durable and complete after reopen, and a store can be reopened once released.
        await using var again = await factory.OpenAsync("disk-1", size);
        var all = new byte[size];
        await again.ReadAsync(0, all);
        Assert.True(reference.AsSpan().SequenceEqual(all));
    }

    [Fact]
    public async Task A_replica_exists_from_its_first_open_on_and_another_disk_does_not()
    {
        var factory = Factory("owner-a");
        Assert.False(await factory.ExistsAsync("disk-exists"));
        await (await factory.OpenAsync("disk-exists", 8192)).DisposeAsync();
        Assert.True(await factory.ExistsAsync("disk-exists"));
        Assert.True(await Factory("owner-b").ExistsAsync("disk-exists"));
        Assert.False(await factory.ExistsAsync("disk-other"));
    }

    [Fact]
    public async Task OutOfRangeIsRefused()
    {
        await using var store = await Factory("owner-a").OpenAsync("disk-2", 4096);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.WriteAsync(4095, new byte[2]).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.WriteAsync(-1, new byte[1]).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ZeroAsync(4000, 97).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ZeroAsync(0, -1).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAsync(4096, new byte[1]).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ReadAsync(long.MaxValue, new byte[1]).AsTask());
        await store.WriteAsync(4095, new byte[] { 7 }); // the last byte is fine
        var one = new byte[1];
        await store.ReadAsync(4095, one);
        Assert.Equal(7, one[0]);
    }

    [Fact]
    public async Task SecondOpenerIsFencedOut()
    {
        var first = await Factory("owner-a").OpenAsync("disk-3", 8192);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Factory("owner-b").OpenAsync("disk-3", 8192).AsTask());
        Assert.Contains("owner-a", e.Message);
        var fenced = Assert.IsType<ReplicaFencedException>(e);
        Assert.Contains("disk-3", fenced.LockFile);
        Assert.Equal("owner-a", fenced.CurrentOwner);
        // The same owner opening twice is a bug too, and must also be refused.
        await Assert.ThrowsAnyAsync<Exception>(() => Factory("owner-a").OpenAsync("disk-3", 8192).AsTask());

        await first.DisposeAsync();
        await using var second = await Factory("owner-b").OpenAsync("disk-3", 8192);
        Assert.Equal("disk-3", second.DiskId);
    }

    [Fact]
    public async Task ReopenWithAnotherSizeIsRefused()
    {
        await (await Factory("o").OpenAsync("disk-4", 8192)).DisposeAsync();
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => Factory("o").OpenAsync("disk-4", 4096).AsTask());
    }

    [Fact]
    public async Task ApplierAppliesKindsAndRefusesBadDeltas()
    {
        await using var store = await Factory("o").OpenAsync("disk-5", 65536);
        var payload = Enumerable.Range(0, 1000).Select(i => (byte)(i % 251 + 1)).ToArray();
        await ReplicaApplier.ApplyAsync(store, Delta.Create("disk-5", 1, DeltaKind.Write, 100, payload.Length, payload, 1));
        await ReplicaApplier.ApplyAsync(store, Delta.Create("disk-5", 2, DeltaKind.Trim, 200, 100, ReadOnlyMemory<byte>.Empty, 1));
        await ReplicaApplier.ApplyAsync(store, Delta.Bookmark("disk-5", 3, "bm", 1));
        var buffer = new byte[1000];
        await store.ReadAsync(100, buffer);
        var expected = payload.ToArray();
        Array.Clear(expected, 100, 100);
        Assert.Equal(expected, buffer);

        var good = Delta.Create("disk-5", 4, DeltaKind.Write, 0, 4, new byte[] { 1, 2, 3, 4 }, 1);
        await Assert.ThrowsAsync<ChecksumMismatchException>(() => ReplicaApplier.ApplyAsync(store, good with { Payload = new byte[] { 1, 2, 3, 5 } }).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            ReplicaApplier.ApplyAsync(store, Delta.Create("disk-5", 5, DeltaKind.Write, 65534, 4, new byte[4], 1)).AsTask());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            ReplicaApplier.ApplyAsync(store, Delta.Create("disk-5", 6, DeltaKind.Zero, 65000, 1000, ReadOnlyMemory<byte>.Empty, 1)).AsTask());
        await Assert.ThrowsAsync<DeltaFormatException>(() =>
            ReplicaApplier.ApplyAsync(store, Delta.Create("other", 7, DeltaKind.Write, 0, 1, new byte[1], 1)).AsTask());
        await Assert.ThrowsAsync<DeltaFormatException>(() =>
            ReplicaApplier.ApplyAsync(store, Delta.Create("disk-5", 8, DeltaKind.Write, 0, 5, new byte[4], 1)).AsTask());
    }

    /// <summary>Writes that start or end inside a 512-byte sector keep the rest of that sector (read-modify-write on page blobs).</summary>
    [Fact]
    public async Task UnalignedWritesKeepTheirNeighbours()
    {
        const int size = 64 * 1024;
        var reference = Pattern(size, 7);
        var rng = new Random(42);
        var factory = Factory("owner-a");
        await using (var store = await factory.OpenAsync("disk-6", size))
        {
            await store.WriteAsync(0, reference.ToArray());
            // Inside one sector, across two, over many with both ends unaligned, aligned start with an unaligned end and
            // the reverse, the first and the last byte.
            foreach (var (offset, length) in new[] { (1, 1), (511, 2), (700, 100), (1000, 3000), (4096, 513), (8191, 1), (10000, 20000), (size - 1, 1), (0, 511), (size - 513, 513), (3, 512) })
            {
                var data = new byte[length];
                rng.NextBytes(data);
                await store.WriteAsync(offset, data);
                data.CopyTo(reference, offset);
                var back = new byte[length];
                await store.ReadAsync(offset, back);
                AssertSame(data, back, $"read back of write {offset}+{length}");
            }
            AssertSame(reference, await ReadAll(store), "whole disk after unaligned writes");
            await store.FlushAsync();
        }
        await using var again = await factory.OpenAsync("disk-6", size);
        AssertSame(reference, await ReadAll(again), "whole disk after reopen");
    }

    /// <summary>Zeroing a range leaves every byte outside it, whatever its alignment.</summary>
    [Fact]
    public async Task UnalignedZeroesKeepTheirNeighbours()
    {
        const int size = 64 * 1024;
        var reference = Pattern(size, 11);
        await using var store = await Factory("owner-a").OpenAsync("disk-7", size);
        await store.WriteAsync(0, reference.ToArray());
        foreach (var (offset, length) in new[] { (1, 1), (510, 4), (700, 100), (1000, 3000), (2048, 4096), (4097, 511), (9000, 10000), (size - 2, 2), (0, 1), (30000, 1023) })
        {
            await store.ZeroAsync(offset, length);
            Array.Clear(reference, offset, length);
        }
        await store.ZeroAsync(100, 0); // nothing
        AssertSame(reference, await ReadAll(store), "whole disk after zeroes");
    }

    /// <summary>Writes and zeroes larger than one request (4 MiB on page blobs) land whole.</summary>
    [Fact]
    public async Task LargeWritesAndZeroesLandWhole()
    {
        const int size = 12 * 1024 * 1024;
        var reference = new byte[size];
        await using var store = await Factory("owner-a").OpenAsync("disk-8", size);
        var big = Pattern(9 * 1024 * 1024 + 1000, 3);
        await store.WriteAsync(700, big);
        big.CopyTo(reference, 700);
        await store.ZeroAsync(1024 * 1024 + 5, 6 * 1024 * 1024 + 3);
        Array.Clear(reference, 1024 * 1024 + 5, 6 * 1024 * 1024 + 3);
        AssertSame(reference, await ReadAll(store), "whole disk");
    }

    /// <summary>Flushed content is there for the next owner, and flushing with nothing written is harmless.</summary>
    [Fact]
    public async Task FlushedContentIsThereForTheNextOwner()
    {
        const int size = 32 * 1024;
        var data = Pattern(size, 5);
        var first = await Factory("owner-a").OpenAsync("disk-10", size);
        await first.FlushAsync();
        await first.WriteAsync(0, data);
        await first.ZeroAsync(1000, 1000);
        Array.Clear(data, 1000, 1000);
        await first.FlushAsync();
        await first.DisposeAsync();
        await using var next = await Factory("owner-b").OpenAsync("disk-10", size);
        Assert.Equal(size, next.Size);
        AssertSame(data, await ReadAll(next), "content seen by the next owner");
    }

    protected static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    protected static async Task<byte[]> ReadAll(IReplicaStore store)
    {
        var all = new byte[store.Size];
        await store.ReadAsync(0, all);
        return all;
    }

    /// <summary>Equal, or fails naming the first differing offset (got vs want).</summary>
    protected static void AssertSame(byte[] want, byte[] got, string what)
    {
        Assert.True(want.Length == got.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var at = want.AsSpan().CommonPrefixLength(got);
        Assert.True(at == want.Length, $"{what}: differs at offset {at}: got {(at < got.Length ? got[at] : -1)}, want {(at < want.Length ? want[at] : -1)}");
    }
}
