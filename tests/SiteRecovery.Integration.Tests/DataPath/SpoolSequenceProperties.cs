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
    // The rewind's own copy of the next sequence, damaged again: asked for again, or the disk waits for the connection to end.
    [InlineData(41, 42, false, true, SpoolStep.Nak)]
    public void Decides_by_sequence_checksum_and_an_outstanding_resend(long lastSpooled, long sequence, bool intact, bool resendAsked, SpoolStep want) =>
        Assert.Equal(want, SpoolSequence.Decide(lastSpooled, sequence, intact, resendAsked));

    /// <summary>
    /// An agent that writes 1..n and sends them in order, and rewinds to what a Nak asks only when the Nak reaches it
    /// (what it sent meanwhile arrives first; Naks arrive in the order they were sent), over a link that now and then
    /// damages a frame (a resend as well), brings a stray copy of an earlier one, or loses one (not the last) the first time it
    /// is sent (a gap; the rewind's copies arrive, only their bytes may be damaged); after the noise the link is clean. The spool
    /// holds 1..k in order, each record once and none damaged; it ends holding all n within the one connection (no damaged
    /// copy leaves the disk waiting for a resend nobody asked for); and Naks never multiply: exactly one per damaged copy
    /// of the next sequence plus one per run of refusals that began with a record beyond it.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property A_spool_fed_by_an_agent_that_rewinds_per_nak_takes_everything_in_order_and_never_waits_for_nothing() =>
        Prop.ForAll(Gen.ArrayOf(Gen.Choose(0, 39)).ToArbitrary(), (int[] noise) =>
        {
            var written = noise.Length + 1L;
            var spooled = new List<long>();
            var last = 0L;
            var asked = false;
            var nextToSend = 1L;
            var highestSent = 0L;
            var naksInFlight = new Queue<(long ResendFrom, int ReachesAgentAt)>();
            var (naks, damagedNext, gapRuns, inRun) = (0, 0, 0, false);
            for (var t = 0; t < 4 * noise.Length + 4 * written + 16; t++)
            {
                while (naksInFlight.TryPeek(out var nak) && nak.ReachesAgentAt <= t) nextToSend = naksInFlight.Dequeue().ResendFrom;
                if (nextToSend > written) continue;
                // This step's link: frames beyond the noise are clean; the tens pick how long a Nak takes to reach the agent.
                var (what, delay) = t < noise.Length ? (noise[t] % 10, 1 + noise[t] / 10) : (9, 1);
                if (what == 0 && nextToSend > highestSent && nextToSend < written) { highestSent = nextToSend++; continue; }
                var (sequence, intact) = what switch { 1 => (Math.Max(1, nextToSend - 3), true), 2 => (nextToSend++, false), _ => (nextToSend++, true) };
                highestSent = Math.Max(highestSent, nextToSend - 1);
                var step = SpoolSequence.Decide(last, sequence, intact, asked);
                if (sequence == last + 1 && !intact) damagedNext++;
                if ((step is SpoolStep.Nak or SpoolStep.AwaitResend) && !inRun) { inRun = true; if (sequence > last + 1) gapRuns++; }
                if (step == SpoolStep.Append)
                {
                    if (!intact || sequence != spooled.Count + 1) return false;
                    spooled.Add(last = sequence);
                    inRun = false;
                }
                if (step == SpoolStep.Nak) { naks++; naksInFlight.Enqueue((last + 1, t + delay)); }
                asked = SpoolSequence.ResendAskedAfter(step, asked);
            }
            return spooled.SequenceEqual(Enumerable.Range(1, (int)written).Select(i => (long)i)) && naks == damagedNext + gapRuns;
        });
}
