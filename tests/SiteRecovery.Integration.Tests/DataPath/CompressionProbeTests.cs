using SiteRecovery.Actors.DataPath;

namespace SiteRecovery.Tests.DataPath;

public class CompressionProbeTests
{
    [Fact]
    public void Incompressible_runs_switch_compression_off_and_it_is_retried()
    {
        var probe = new CompressionProbe();
        for (var i = 0; i < CompressionProbe.GiveUpAfter; i++) { Assert.True(probe.ShouldTry()); probe.Report(false); }
        var skipped = 0;
        while (!probe.ShouldTry()) skipped++;
        Assert.Equal(CompressionProbe.SkipFor, skipped);
        // One more miss after the retry switches it off again at once; a hit keeps it on.
        probe.Report(false);
        Assert.False(probe.ShouldTry());
        var fresh = new CompressionProbe();
        for (var i = 0; i < 1000; i++) { Assert.True(fresh.ShouldTry()); fresh.Report(i % 8 != 0); }
    }

    [Fact]
    public void Retries_that_keep_failing_wait_twice_as_long_each_time_up_to_the_maximum_and_a_hit_starts_over()
    {
        var probe = new CompressionProbe();
        for (var i = 0; i < CompressionProbe.GiveUpAfter; i++) { Assert.True(probe.ShouldTry()); probe.Report(false); }
        int SkippedBeforeNextTry()
        {
            var skipped = 0;
            while (!probe.ShouldTry()) skipped++;
            return skipped;
        }
        var waits = new List<int>();
        for (var retry = 0; retry < 7; retry++)
        {
            waits.Add(SkippedBeforeNextTry());
            probe.Report(false);
        }
        Assert.Equal([64, 128, 256, 512, 1024, 1024, 1024], waits);
        Assert.Equal(CompressionProbe.MaxSkip, waits[^1]);
        // A retry that shrinks keeps compression on; the next give-up waits the short time again.
        SkippedBeforeNextTry();
        probe.Report(true);
        for (var i = 0; i < CompressionProbe.GiveUpAfter; i++) { Assert.True(probe.ShouldTry()); probe.Report(false); }
        Assert.Equal(CompressionProbe.SkipFor, SkippedBeforeNextTry());
    }
}
