using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Resync;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// <see cref="ResyncRanges"/> against a model: a stream where each sequence is a write, a begin or an end marker; a sequence
/// is inside a resync when a begin came at or before it with no end after that begin, at or before it.
/// </summary>
public sealed class ResyncRangesProperties
{
    enum Item { Write, Begin, End }

    static Item[] Stream(int seed, int count)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(10) switch { 0 => Item.Begin, 1 => Item.End, _ => Item.Write }).ToArray();
    }

    static ResyncRanges Build(Item[] stream, bool resendEach = false)
    {
        var r = ResyncRanges.Empty;
        for (var i = 0; i < stream.Length; i++)
        {
            if (stream[i] == Item.Write) continue;
            r = r.Apply(i + 1, stream[i] == Item.Begin, ResyncReason.AgentRestartedWithoutTracking);
            // A resend of any earlier marker (the process server resends what the master target had not committed) changes nothing.
            if (resendEach) r = r.Apply(i + 1, stream[i] == Item.Begin, ResyncReason.AgentRestartedWithoutTracking);
        }
        return r;
    }

    static bool[] Inside(Item[] stream)
    {
        var inside = new bool[stream.Length + 1];
        var open = false;
        for (var i = 0; i < stream.Length; i++)
        {
            if (stream[i] == Item.Begin) open = true;
            if (stream[i] == Item.End) open = false;
            inside[i + 1] = open;
        }
        return inside;
    }

    [Property(MaxTest = 300)]
    public Property Covering_matches_the_model_at_every_sequence(PositiveInt seed) => Prop.ForAll(Arb.From(Gen.Choose(1, 200)), count =>
    {
        var stream = Stream(seed.Get, count);
        var ranges = Build(stream);
        var inside = Inside(stream);
        for (long s = 1; s <= count; s++)
            if ((ranges.Covering(s) is not null) != inside[s])
                return false.Label($"#{s}: got {(ranges.Covering(s)?.ToString() ?? "outside")}, want {(inside[s] ? "inside" : "outside")}");
        return (ranges.Open is not null == inside[count]).Label("the open range is the one running at the end");
    });

    [Property(MaxTest = 300)]
    public Property Last_consistent_is_the_newest_sequence_outside_every_range(PositiveInt seed) => Prop.ForAll(Arb.From(Gen.Choose(1, 200)), count =>
    {
        var stream = Stream(seed.Get, count);
        var ranges = Build(stream);
        var inside = Inside(stream);
        for (long s = 1; s <= count; s++)
        {
            var want = s;
            while (want > 0 && inside[want]) want--;
            if (ranges.LastConsistentAtOrBefore(s) != want) return false.Label($"#{s}: got #{ranges.LastConsistentAtOrBefore(s)}, want #{want}");
        }
        return true.ToProperty();
    });

    [Property(MaxTest = 100)]
    public bool Resent_markers_change_nothing(PositiveInt seed) =>
        Build(Stream(seed.Get, 150)).Ranges.SequenceEqual(Build(Stream(seed.Get, 150), resendEach: true).Ranges);

    [Property(MaxTest = 50)]
    public bool Ranges_survive_the_file_round_trip(PositiveInt seed)
    {
        var ranges = Build(Stream(seed.Get, 150));
        var dir = Path.Combine(Path.GetTempPath(), "resync-ranges-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(dir);
        try
        {
            ResyncRangeFile.Save(dir, ranges);
            return ResyncRangeFile.Load(dir).Ranges.SequenceEqual(ranges.Ranges);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_damaged_file_is_refused_naming_the_file_and_what_to_do()
    {
        var dir = Path.Combine(Path.GetTempPath(), "resync-ranges-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, ResyncRangeFile.Name), "[{\"From\":5,");
            var e = Assert.Throws<InvalidDataException>(() => ResyncRangeFile.Load(dir));
            Assert.Contains(ResyncRangeFile.Name, e.Message);
            Assert.Contains("resync the disk", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Ranges_that_end_below_the_window_are_forgotten_and_the_open_one_never_is()
    {
        var r = ResyncRanges.Empty.Apply(5, true, ResyncReason.InitialReplication).Apply(10, false, ResyncReason.InitialReplication)
            .Apply(20, true, ResyncReason.BufferOverflow);
        Assert.Equal(2, r.Ranges.Count);
        var pruned = r.Below(10);
        Assert.Single(pruned.Ranges);
        Assert.Equal(20, pruned.Open!.From);
        Assert.Same(pruned, pruned.Below(10_000));
    }

    [Fact]
    public void Marker_text_round_trips_and_names_are_reserved()
    {
        Assert.True(ResyncMarker.TryParse(ResyncMarker.Begin(ResyncReason.StreamGap), out var begin, out var reason));
        Assert.True(begin);
        Assert.Equal(ResyncReason.StreamGap, reason);
        Assert.True(ResyncMarker.TryParse(ResyncMarker.End(ResyncReason.BufferOverflow), out begin, out reason));
        Assert.False(begin);
        Assert.Equal(ResyncReason.BufferOverflow, reason);
        Assert.False(ResyncMarker.TryParse("before-upgrade", out _, out _));
        Assert.NotNull(ResyncMarker.ReservedNameError("resync:begin:x"));
        Assert.NotNull(ResyncMarker.ReservedNameError("group:x"));
        Assert.Null(ResyncMarker.ReservedNameError("before-upgrade"));
    }
}
