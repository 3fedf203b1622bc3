using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.DataPath;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>Properties of the master target's per-disk order rule (<see cref="RecordSequence.Decide"/>), straight on the pure function.</summary>
public sealed class RecordSequenceProperties
{
    [Theory]
    [InlineData(0, 1, RecordStep.Apply)]
    [InlineData(0, 0, RecordStep.SkipResend)]
    [InlineData(0, 2, RecordStep.Nak)]
    [InlineData(41, 42, RecordStep.Apply)]
    [InlineData(41, 7, RecordStep.SkipResend)]
    [InlineData(41, 41, RecordStep.SkipResend)]
    [InlineData(41, 43, RecordStep.Nak)]
    public void Decides_by_the_sequence_against_what_the_disk_applied(long appliedThrough, long sequence, RecordStep want) =>
        Assert.Equal(want, RecordSequence.Decide(appliedThrough, sequence));

    /// <summary>
    /// Whatever a process server sends (resends, reorders, gaps), a disk that applies what the rule says applies each
    /// sequence once, in order, with no gap: what it holds is always 1..n.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property A_disk_fed_any_stream_holds_exactly_one_to_n_in_order() =>
        Prop.ForAll(Gen.ArrayOf(Gen.Choose(1, 40)).ToArbitrary(), (int[] sent) =>
        {
            var held = new List<long>();
            var applied = 0L;
            foreach (var sequence in sent)
            {
                var step = RecordSequence.Decide(applied, sequence);
                if (step == RecordStep.Apply) held.Add(applied = sequence);
                if ((step == RecordStep.Nak) != (sequence > applied + 1)) return false;
            }
            return held.SequenceEqual(Enumerable.Range(1, held.Count).Select(i => (long)i))
                && held.Count == LongestPrefixRun(sent);
        });

    /// <summary>How far 1, 2, 3… can be followed through <paramref name="sent"/> in order: what an in-order disk takes.</summary>
    static int LongestPrefixRun(int[] sent)
    {
        var next = 1L;
        foreach (var s in sent) if (s == next) next++;
        return (int)(next - 1);
    }
}
