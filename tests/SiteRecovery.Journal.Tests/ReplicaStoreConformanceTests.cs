using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Behaviour every replica backend must share. Each backend is one row of <see cref="Backends"/>; an Azure page-blob
/// backend is added by adding a row and a case in <see cref="Factory"/>.
/// </summary>
public sealed class ReplicaStoreConformanceTests : IDisposable
{
    private readonly TempDir _dir = new();

    public static TheoryData<string> Backends => new() { "local" };

    private IReplicaStoreFactory Factory(string backend, string owner) => backend switch
    {
        "local" => new LocalFileReplicaStoreFactory(_dir.Sub("replicas"), owner),
        _ => throw new ArgumentOutOfRangeException(nameof(backend), backend, "unknown backend"),
    };

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task RandomWritesZerosAndReadsMatchReference(string backend)
    {
        const long size = 3 * 1024 * 1024 + 512; // not a power of two: edges matter
        var reference = new byte[size];
        var rng = new Random(1234);
        var factory = Factory(backend, "owner-a");
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

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task OutOfRangeIsRefused(string backend)
    {
        await using var store = await Factory(backend, "owner-a").OpenAsync("disk-2", 4096);
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

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task SecondOpenerIsFencedOut(string backend)
    {
        var first = await Factory(backend, "owner-a").OpenAsync("disk-3", 8192);
        var e = await Assert.ThrowsAnyAsync<Exception>(() => Factory(backend, "owner-b").OpenAsync("disk-3", 8192).AsTask());
        Assert.Contains("owner-a", e.Message);
        if (backend == "local")
        {
            var fenced = Assert.IsType<ReplicaFencedException>(e);
            Assert.EndsWith("disk-3.img.lock", fenced.LockFile);
            Assert.Equal("owner-a", fenced.CurrentOwner);
        }
        // The same owner opening twice is a bug too, and must also be refused.
        await Assert.ThrowsAnyAsync<Exception>(() => Factory(backend, "owner-a").OpenAsync("disk-3", 8192).AsTask());

        await first.DisposeAsync();
        await using var second = await Factory(backend, "owner-b").OpenAsync("disk-3", 8192);
        Assert.Equal("disk-3", second.DiskId);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ReopenWithAnotherSizeIsRefused(string backend)
    {
        await (await Factory(backend, "o").OpenAsync("disk-4", 8192)).DisposeAsync();
        await Assert.ThrowsAnyAsync<InvalidOperationException>(() => Factory(backend, "o").OpenAsync("disk-4", 4096).AsTask());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ApplierAppliesKindsAndRefusesBadDeltas(string backend)
    {
        await using var store = await Factory(backend, "o").OpenAsync("disk-5", 65536);
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
}
