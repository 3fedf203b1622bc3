using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

public sealed class PointInTimeBuilderTests
{
    private const int DiskSize = 256 * 1024 + 4096;
    private static readonly DeltaCompression Compression = new();

    /// <summary>Random writes (random or compressible bytes), zeros, trims and bookmarks within the disk.</summary>
    private static List<Delta> RandomDeltas(int seed, int count)
    {
        var rng = new Random(seed);
        var deltas = new List<Delta>();
        for (long seq = 1; seq <= count; seq++)
        {
            var length = rng.Next(1, 20_000);
            var offset = rng.NextInt64(0, DiskSize - length + 1);
            var kind = rng.Next(0, 10);
            if (kind < 6)
            {
                var data = new byte[length];
                if (kind < 3) rng.NextBytes(data);
                else Array.Fill(data, (byte)rng.Next(1, 256));
                deltas.Add(Delta.Create("disk-p", seq, DeltaKind.Write, offset, length, data, 1000 + seq));
            }
            else if (kind < 8) deltas.Add(Delta.Create("disk-p", seq, DeltaKind.Zero, offset, length, ReadOnlyMemory<byte>.Empty, 1000 + seq));
            else if (kind < 9) deltas.Add(Delta.Create("disk-p", seq, DeltaKind.Trim, offset, length, ReadOnlyMemory<byte>.Empty, 1000 + seq));
            else deltas.Add(Delta.Bookmark("disk-p", seq, $"bm-{seq}", 1000 + seq));
        }
        return deltas;
    }

    private static byte[] ReferenceAt(IReadOnlyList<Delta> deltas, long through)
    {
        var disk = new byte[DiskSize];
        foreach (var d in deltas.Take((int)through))
        {
            if (d.Kind == DeltaKind.Write) d.Payload.Span.CopyTo(disk.AsSpan((int)d.Offset));
            else if (d.Kind is DeltaKind.Zero or DeltaKind.Trim) Array.Clear(disk, (int)d.Offset, d.Length);
        }
        return disk;
    }

    private static SegmentLog WriteLog(string path, IReadOnlyList<Delta> deltas, int seed)
    {
        var rng = new Random(seed);
        var log = SegmentLog.Open(path, new SegmentLogOptions { SegmentBytes = 64 * 1024 });
        foreach (var d in deltas)
        {
            log.Append(Compression.EncodeStored(d, compress: rng.Next(2) == 0), d.Sequence);
            if (rng.Next(8) == 0) log.Flush();
        }
        log.Flush();
        return log;
    }

    /// <summary>Materializing at any sequence gives, byte for byte, the reference disk state at that sequence.</summary>
    [Property(MaxTest = 15)]
    public Property MaterializedImageEqualsReferenceAtThatSequence() =>
        Prop.ForAll(Gen.Choose(0, 100_000).ToArbitrary(), Gen.Choose(1, 120).ToArbitrary(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (seed, count, pick) =>
        {
            using var dir = new TempDir();
            var deltas = RandomDeltas(seed, count);
            using var log = WriteLog(dir.Sub("journal"), deltas, seed);
            var through = (long)((uint)pick % (uint)(count + 1));
            var output = dir.Sub("image.raw");
            var progress = new List<double>();

            var result = new PointInTimeBuilder(Compression)
                .MaterializeAsync(log, through, DiskSize, output, new Progress<double>(progress.Add), CancellationToken.None)
                .GetAwaiter().GetResult();

            var expected = ReferenceAt(deltas, through);
            var actual = File.ReadAllBytes(output);
            Assert.Equal(DiskSize, actual.Length);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"image at {through} differs from reference");
            Assert.Equal(through, result.DeltaCount);
            Assert.Equal(deltas.Take((int)through).Where(d => d.Kind == DeltaKind.Write).Sum(d => (long)d.Length), result.BytesWritten);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected)), result.Sha256);
            Assert.Equal(result.Sha256, ImageHashing.Sha256OfFileAsync(output).GetAwaiter().GetResult());
            Assert.False(File.Exists(output + ".partial"));
        });

    [Fact]
    public async Task RefusesWhenSequenceOneWasTrimmed()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(7, 200);
        using var log = WriteLog(dir.Sub("journal"), deltas, 7);
        Assert.True(log.TrimThrough(50) > 0);
        Assert.True(log.FirstSequence > 1);
        var e = await Assert.ThrowsAsync<PointInTimeUnavailableException>(() =>
            new PointInTimeBuilder().MaterializeAsync(log, 150, DiskSize, dir.Sub("img"), null, CancellationToken.None));
        Assert.Contains("sequence 1", e.Message);
        Assert.False(File.Exists(dir.Sub("img")));
    }

    [Fact]
    public async Task RefusesWhenTheLogDoesNotReachTheSequence()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(8, 30);
        using var log = WriteLog(dir.Sub("journal"), deltas, 8);
        var e = await Assert.ThrowsAsync<PointInTimeUnavailableException>(() =>
            new PointInTimeBuilder().MaterializeAsync(log, 31, DiskSize, dir.Sub("img"), null, CancellationToken.None));
        Assert.Contains("31", e.Message);
        Assert.False(File.Exists(dir.Sub("img")));
    }

    [Fact]
    public async Task RefusesADeltaOutsideTheDisk()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(9, 10);
        using var log = WriteLog(dir.Sub("journal"), deltas, 9);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            new PointInTimeBuilder().MaterializeAsync(log, 10, 1024, dir.Sub("img"), null, CancellationToken.None));
        Assert.False(File.Exists(dir.Sub("img")));
        Assert.False(File.Exists(dir.Sub("img") + ".partial"));
    }
}
