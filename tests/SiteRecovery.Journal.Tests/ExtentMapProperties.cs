using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Journal.Checkpoints;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// The extent map against a byte-per-byte model: for each byte of a small disk, which record last wrote it and at
/// which offset of that record's payload. Enough operations to split the map into many chunks.
/// </summary>
public sealed class ExtentMapProperties
{
    private const int DiskSize = 20_000;

    private readonly record struct Owner(long Sequence, ExtentKind Kind, int PayloadOffset);

    [Property(MaxTest = 40)]
    public void Map_matches_a_byte_model_after_random_overlays_and_prunes(PositiveInt seedArg)
    {
        var rng = new Random(seedArg.Get);
        var map = new ExtentMap();
        var model = new Owner?[DiskSize];
        var operations = rng.Next(200, 3000);
        for (long seq = 1; seq <= operations; seq++)
        {
            if (rng.Next(200) == 0)
            {
                var below = rng.NextInt64(0, seq);
                map.RemoveAtOrBelow(below);
                for (var i = 0; i < DiskSize; i++)
                    if (model[i] is { } o && o.Sequence <= below) model[i] = null;
                continue;
            }
            // Mostly short writes (many extents), sometimes one covering a large part of the disk.
            var length = rng.Next(10) == 0 ? rng.Next(1, DiskSize) : rng.Next(1, 40);
            var start = rng.Next(0, DiskSize - length + 1);
            var kind = rng.Next(3) == 0 ? ExtentKind.Zero : ExtentKind.Data;
            var dataOffset = kind == ExtentKind.Data ? rng.Next(0, 100) : 0;
            map.Overlay(new Extent(start, length, seq, kind, new RecordLocation(seq, seq * 7), dataOffset));
            for (var i = 0; i < length; i++)
                model[start + i] = new Owner(seq, kind, kind == ExtentKind.Data ? dataOffset + i : 0);
        }

        var extents = map.Extents.ToList();
        Assert.Equal(extents.Count, map.Count);
        var actual = new Owner?[DiskSize];
        for (var k = 0; k < extents.Count; k++)
        {
            var e = extents[k];
            Assert.True(e.Length > 0, $"extent {k} is empty");
            if (k > 0) Assert.True(extents[k - 1].End <= e.Start, $"extents {k - 1} and {k} overlap or are out of order");
            Assert.Equal(new RecordLocation(e.Sequence, e.Sequence * 7), e.Location);
            for (var i = 0; i < e.Length; i++)
                actual[e.Start + i] = new Owner(e.Sequence, e.Kind, e.Kind == ExtentKind.Data ? e.DataOffset + i : 0);
        }
        Assert.Equal(model, actual);

        // A frozen copy and a clone see the same extents, and lookups land on the extent holding the offset.
        Assert.Equal(extents, map.Clone().Extents);
        var frozen = map.Freeze();
        for (var probe = 0; probe < 50; probe++)
        {
            var offset = rng.Next(0, DiskSize);
            var i = frozen.FirstAtOrAfter(offset);
            if (model[offset] is null) Assert.True(i == frozen.All.Count || frozen.All[i].Start > offset || frozen.All[i].End <= offset);
            else Assert.True(frozen.All[i].Start <= offset && offset < frozen.All[i].End);
        }
    }

    [Fact]
    public void From_refuses_overlapping_extents_naming_the_offset()
    {
        var e = Assert.Throws<ArgumentException>(() => ExtentMap.From([
            new Extent(0, 100, 1, ExtentKind.Zero, default, 0),
            new Extent(50, 100, 2, ExtentKind.Zero, default, 0)]));
        Assert.Contains("overlap at 50", e.Message);
    }
}
