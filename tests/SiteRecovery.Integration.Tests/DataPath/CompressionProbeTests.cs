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
}
