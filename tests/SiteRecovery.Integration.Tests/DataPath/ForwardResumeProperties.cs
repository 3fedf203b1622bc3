using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.DataPath;
using Xunit;

namespace SiteRecovery.Integration.Tests.DataPath;

/// <summary>Properties of what a forwarder resends after a (re)connection (<see cref="ForwardResume.Problem"/>), straight on the pure function.</summary>
public sealed class ForwardResumeProperties
{
    [Theory]
    [InlineData(10, 11, 20, true)]   // the spool holds the next one the target needs
    [InlineData(10, 5, 20, true)]    // and more before it (not trimmed yet: the ack was lost)
    [InlineData(10, 11, 10, true)]   // empty spool right after the target
    [InlineData(10, 3, 8, true)]     // the target holds all the spool has (a restarted process server)
    [InlineData(10, 12, 20, false)]  // a hole: #11 is nowhere
    [InlineData(0, 5, 9, false)]
    public void Serves_the_target_only_without_a_hole(long targetHolds, long spoolFirst, long spoolLast, bool serves)
    {
        var problem = ForwardResume.Problem("d1", targetHolds, spoolFirst, spoolLast);
        Assert.True((problem is null) == serves, $"target at #{targetHolds}, spool #{spoolFirst}..#{spoolLast}: got '{problem}'");
        if (problem is not null) Assert.Contains($"needs #{targetHolds + 1} but the cache starts at #{spoolFirst}", problem);
    }

    /// <summary>
    /// Whatever the target holds and whatever run the spool holds: the forwarder goes ahead exactly when what it would
    /// send (target + 1 through the spool's last) is all in the spool, so the target never gets a gap from a resume.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property Goes_ahead_exactly_when_the_spool_holds_every_sequence_it_would_send() =>
        Prop.ForAll(Gen.Choose(0, 60).ToArbitrary(), Gen.Choose(1, 60).ToArbitrary(), Gen.Choose(0, 30).ToArbitrary(), (int target, int first, int count) =>
        {
            long last = first + count - 1; // count 0: an empty spool, first = last + 1
            var toSend = Enumerable.Range(target + 1, (int)Math.Max(0, last - target)).Select(i => (long)i);
            var allHeld = toSend.All(s => s >= first && s <= last);
            return (ForwardResume.Problem("d1", target, first, last) is null) == allHeld;
        });
}
