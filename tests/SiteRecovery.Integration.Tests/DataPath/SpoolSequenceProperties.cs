using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.DataPath;
using Xunit;

namespace SiteRecovery.Integration.Tests.DataPath;

/// <summary>Properties of the process server's per-disk spool order rule (<see cref="SpoolSequence.Decide"/>), straight on the pure function.</summary>
public sealed class SpoolSequenceProperties
{
    [Theory]
    [InlineData(0, 1, true, false, SpoolStep.Append)]
    [InlineData(0, 1, true, true, SpoolStep.Append)]
    [InlineData(0, 0, true, false, SpoolStep.SkipResend)]
    [InlineData(41, 7, false, true, SpoolStep.SkipResend)]
    [InlineData(41, 41, true, false, SpoolStep.SkipResend)]
    [InlineData(41, 43, true, false, SpoolStep.Nak)]
    [InlineData(41, 43, true, true, SpoolStep.AwaitResend)]
    [InlineData(41, 42, false, false, SpoolStep.Nak)]
    [InlineData(41, 42, false, true, SpoolStep.AwaitResend)]
    public void Decides_by_sequence_checksum_and_an_outstanding_resend(long lastSpooled, long sequence, bool intact, bool resendAsked, SpoolStep want) =>
        Assert.Equal(want, SpoolSequence.Decide(lastSpooled, sequence, intact, resendAsked));

    /// <summary>
    /// An agent that rewinds to what each Nak asks and sends everything after it again (resends overlapping, records
    /// damaged on the way now and then): the spool holds 1..n in order, each record once and none damaged, and every
    /// run of refusals asks for a resend exactly once, from the spool's next sequence.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property A_spool_fed_by_an_agent_that_rewinds_holds_one_to_n_and_asks_once_per_gap() =>
        Prop.ForAll(Gen.ArrayOf(Gen.Choose(0, 9)).ToArbitrary(), (int[] noise) =>
        {
            var spooled = new List<long>();
            var last = 0L;
            var asked = false;
            var nextToSend = 1L;
            var naks = 0;
            var gapsOpened = 0;
            var openGap = false;
            foreach (var n in noise)
            {
                // The agent's next frame: in order, or a jump ahead (a lost frame), a step back (an overlap), or damaged.
                var sequence = n switch { 0 => nextToSend + 2, 1 => Math.Max(1, nextToSend - 3), _ => nextToSend };
                var intact = n != 2;
                var step = SpoolSequence.Decide(last, sequence, intact, asked);
                var refused = step is SpoolStep.Nak or SpoolStep.AwaitResend;
                if (refused && !openGap) { gapsOpened++; openGap = true; }
                if (step == SpoolStep.Append) { spooled.Add(last = sequence); openGap = false; }
                if (step == SpoolStep.Nak) { naks++; nextToSend = last + 1; }
                else nextToSend = sequence + 1;
                if (step == SpoolStep.Append && (!intact || sequence != spooled.Count)) return false;
                asked = SpoolSequence.ResendAskedAfter(step, asked);
            }
            return spooled.SequenceEqual(Enumerable.Range(1, spooled.Count).Select(i => (long)i)) && naks == gapsOpened;
        });
}
