using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A point snapshot read as a view's base with read-ahead (<see cref="PageBlobReplicaOptions.PointReadAhead"/>) on
/// Azurite: a disk of 4 MiB pieces, some never written (no request, zeroes) and a short last one; read block after block
/// (the materializer's way, which fetches ahead), backwards, and by several readers at once in a random order, with
/// read-ahead 0, 1, 3 and more than the disk holds. Every read returns the snapshot's bytes, never the replica's writes
/// after it, and never a piece's bytes under another piece's offset.
/// </summary>
public sealed class PageBlobSnapshotReadAheadTests : IAsyncLifetime
{
    // Ten pieces and a half: pieces 2, 6 and 7 never written, the last one 2.5 MiB.
    const int Piece = 4 << 20;
    const int Size = 10 * Piece + (5 << 19);
    static readonly int[] Unwritten = [2, 6, 7];
    readonly TempDir _dir = new();
    readonly string _container = Azurite.NewContainer("readahead");

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

    static void AssertSame(ReadOnlySpan<byte> want, ReadOnlySpan<byte> got, string what)
    {
        Assert.True(got.Length == want.Length, $"{what}: got {got.Length} bytes, want {want.Length}");
        var same = got.CommonPrefixLength(want);
        if (same != want.Length) Assert.Fail($"{what}: first difference at byte {same}: got 0x{got[same]:x2}, want 0x{want[same]:x2}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(PageBlobReplicaOptions.PointReadAheadLimit)]
    public async Task Every_read_with_read_ahead_returns_the_snapshots_bytes_in_order_backwards_and_from_many_readers(int readAhead)
    {
        var factory = new PageBlobReplicaStoreFactory(Azurite.Account(_dir), Azurite.Options(_container) with { SnapshotPoints = true, PointReadAhead = readAhead }, "owner-readahead");
        await using var store = (PageBlobReplicaStore)await factory.OpenAsync("d1", Size);
        // Each piece's bytes differ from every other's (its number in each 4 KiB), so a piece read under another's offset shows.
        var image = new byte[Size];
        var rng = new Random(readAhead + 7);
        for (var piece = 0; piece * Piece < Size; piece++)
        {
            if (Unwritten.Contains(piece)) continue;
            var start = piece * Piece;
            var data = new byte[Math.Min(Piece, Size - start)];
            rng.NextBytes(data);
            for (var i = 0; i < data.Length; i += 4096) data[i] = (byte)piece;
            data.CopyTo(image, start);
            await store.WriteAsync(start, data);
        }
        var snapshot = await store.SnapshotPointAsync("A", 5);
        // After the snapshot: in the replica, never in what the snapshot reads.
        await store.WriteAsync(Piece, Enumerable.Repeat((byte)0xee, Piece).ToArray());
        await store.WriteAsync(2 * Piece, Enumerable.Repeat((byte)0xdd, 4096).ToArray());
        await store.FlushAsync();

        // Block after block, as the materializer reads it.
        var forward = await store.OpenSnapshotBaseAsync(snapshot);
        Assert.Equal(Size, forward.Size);
        var block = new byte[BaseImage.BlockSize];
        for (var b = 0; b < forward.BlockCount; b++)
        {
            var n = forward.ReadBlock(b, block);
            AssertSame(image.AsSpan(b * BaseImage.BlockSize, n), block.AsSpan(0, n), $"read-ahead {readAhead}: block {b} read in order");
        }

        // Backwards, in pieces that straddle the snapshot's 4 MiB pieces.
        var backward = await store.OpenSnapshotBaseAsync(snapshot);
        var chunk = new byte[3 << 20];
        for (long end = Size; end > 0; end -= chunk.Length)
        {
            var start = Math.Max(0, end - chunk.Length);
            backward.Read(start, chunk.AsSpan(0, (int)(end - start)));
            AssertSame(image.AsSpan((int)start, (int)(end - start)), chunk.AsSpan(0, (int)(end - start)), $"read-ahead {readAhead}: {start}..{end} read backwards");
        }

        // Four readers at once on one base, each reading the disk in its own random order in odd-sized pieces.
        var shared = await store.OpenSnapshotBaseAsync(snapshot);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(reader => Task.Run(() =>
        {
            var order = new Random(reader);
            var buffer = new byte[777_777];
            for (var i = 0; i < 40; i++)
            {
                var offset = order.NextInt64(Size - buffer.Length);
                shared.Read(offset, buffer);
                AssertSame(image.AsSpan((int)offset, buffer.Length), buffer, $"read-ahead {readAhead}: reader {reader} at {offset}");
            }
        })));
    }
}
