using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A replica adopted from a disk's original file (a reprotect) held data before its first delta: the retention's base
/// starts from that content, so every point is the adopted disk plus the deltas, never zeroes plus the deltas.
/// </summary>
public sealed class SeededBaseTests
{
    const int Size = RetentionProperties.DiskSize;

    static byte[] Original(int seed)
    {
        var disk = new byte[Size];
        new Random(seed).NextBytes(disk);
        // One whole zero block: it must stay a hole and read back as zeroes.
        Array.Clear(disk, 1 << 20, 1 << 20);
        return disk;
    }

    static Func<long, Memory<byte>, CancellationToken, ValueTask> ReaderOf(byte[] disk) => (offset, buffer, _) =>
    {
        disk.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    };

    static void Apply(byte[] disk, Delta d)
    {
        if (d.Kind == DeltaKind.Write) d.Payload.Span.CopyTo(disk.AsSpan((int)d.Offset));
        else if (d.Kind is DeltaKind.Zero or DeltaKind.Trim) Array.Clear(disk, (int)d.Offset, d.Length);
    }

    static byte[] Read(DiskRetention r, long sequence)
    {
        using var view = r.OpenView(sequence);
        var image = new byte[Size];
        view.Read(0, image);
        return image;
    }

    [Fact]
    public async Task Every_point_is_the_adopted_disk_plus_the_deltas_and_a_reopen_does_not_seed_again()
    {
        using var dir = new TempDir();
        var original = Original(3);
        await BaseImage.SeedAsync(dir.Sub("retention"), Size, ReaderOf(original), CancellationToken.None);
        var deltas = RetentionProperties.RandomDeltas(11, 60);
        var options = new RetentionOptions { Window = null, CheckpointIntervalBytes = 40_000, ReceiveTimeSampleInterval = TimeSpan.Zero };
        using (var log = SegmentLog.Open(dir.Sub("journal"), RetentionProperties.LogOptions))
        using (var r = DiskRetention.Open(dir.Sub("retention"), RetentionProperties.Disk, Size, log, RetentionProperties.Compression, options))
        {
            RetentionProperties.Append(log, deltas, new Random(5), r);
            var reference = (byte[])original.Clone();
            foreach (var d in deltas)
            {
                Apply(reference, d);
                if (d.Sequence % 7 == 0 || d.Sequence == deltas.Count)
                    Assert.True(reference.AsSpan().SequenceEqual(Read(r, d.Sequence)), $"point #{d.Sequence} is not the adopted disk plus deltas 1..{d.Sequence}");
            }
        }
        // A second seed (a restart of the master target) changes nothing: the base already has its manifest.
        await BaseImage.SeedAsync(dir.Sub("retention"), Size, ReaderOf(new byte[Size]), CancellationToken.None);
        using (var log = SegmentLog.Open(dir.Sub("journal"), RetentionProperties.LogOptions))
        using (var r = DiskRetention.Open(dir.Sub("retention"), RetentionProperties.Disk, Size, log, RetentionProperties.Compression, options))
        {
            var reference = (byte[])original.Clone();
            foreach (var d in deltas) Apply(reference, d);
            Assert.True(reference.AsSpan().SequenceEqual(Read(r, deltas.Count)), "after a reopen the newest point must still start from the adopted disk");
        }
    }

    [Fact]
    public async Task Without_the_seed_the_same_points_are_built_on_zeroes_and_differ()
    {
        // The hazard the seed closes: the base of a new disk is all zeroes.
        using var dir = new TempDir();
        var deltas = RetentionProperties.RandomDeltas(11, 20);
        using var log = SegmentLog.Open(dir.Sub("journal"), RetentionProperties.LogOptions);
        using var r = DiskRetention.Open(dir.Sub("retention"), RetentionProperties.Disk, Size, log, RetentionProperties.Compression,
            new RetentionOptions { Window = null, ReceiveTimeSampleInterval = TimeSpan.Zero });
        RetentionProperties.Append(log, deltas, new Random(5), r);
        var reference = Original(3);
        foreach (var d in deltas) Apply(reference, d);
        Assert.False(reference.AsSpan().SequenceEqual(Read(r, deltas.Count)));
        await Task.CompletedTask;
    }
}
