using SiteRecovery.Node.Failover;
using Xunit;

namespace SiteRecovery.Integration.Tests.Failover;

/// <summary>
/// The node's failover settings as an operator's <c>--config</c> overrides them: a bad value stops the start with its
/// key named, a good one is taken, and what is not overridden keeps the shipped default (<c>hocon/failover.hocon</c>).
/// </summary>
public sealed class FailoverSettingsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-failover-settings-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    FailoverSettings Load(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("n")[..6] + ".conf");
        File.WriteAllText(path, "siterecovery.failover." + text);
        return FailoverSettings.Load(path);
    }

    [Theory]
    [InlineData("drill-outside-host = 0", "drill-outside-host = 0 is outside 1..3")]
    [InlineData("drill-outside-host = 4", "drill-outside-host = 4 is outside 1..3")]
    [InlineData("drill-probe-timeout = 0s", "drill-probe-timeout")]
    [InlineData("drill-minimum-interval = 0s", "drill-minimum-interval")]
    [InlineData("drill-check-interval = 0s", "drill-check-interval")]
    [InlineData("boot-timeout = 0s", "boot-timeout must be positive")]
    [InlineData("boot-marker = \"\"", "boot-marker must not be empty")]
    [InlineData("default-cpus = 0", "default-cpus = 0 is outside 1..64")]
    [InlineData("default-memory-mib = 32", "default-memory-mib = 32 is outside 64..65536")]
    [InlineData("start-parallelism = 0", "start-parallelism = 0 is outside 1..256")]
    [InlineData("auto-rollback-minimum = 500ms", "auto-rollback-minimum")]
    [InlineData("reprotect-sync-timeout = 0s", "reprotect-sync-timeout")]
    [InlineData("failback-drain-timeout = 0s", "failback-drain-timeout")]
    [InlineData("materialize-timeout = 0s", "materialize-timeout")]
    public void A_bad_value_stops_the_start_naming_its_key(string setting, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => Load(setting));
        Assert.Contains(named, e.Message);
        Assert.Contains("siterecovery.failover", e.Message);
    }

    [Fact]
    public void A_good_override_is_taken_and_the_rest_keep_their_defaults()
    {
        var defaults = Load("start-parallelism = 8");
        var s = Load("drill-outside-host = 3\nsiterecovery.failover.drill-probe-timeout = 20s");
        Assert.Equal(3, s.DrillOutsideHost);
        Assert.Equal(TimeSpan.FromSeconds(20), s.DrillProbeTimeout);
        Assert.Equal(1, defaults.DrillOutsideHost);
        Assert.Equal(TimeSpan.FromSeconds(150), defaults.DrillProbeTimeout);
        Assert.Equal(defaults.BootTimeout, s.BootTimeout);
        Assert.Equal(defaults.FailbackDrainTimeout, s.FailbackDrainTimeout);
    }

    [Fact]
    public void An_override_file_that_is_not_there_is_named()
    {
        var missing = Path.Combine(_dir, "nowhere.conf");
        var e = Assert.Throws<ArgumentException>(() => FailoverSettings.Load(missing));
        Assert.Contains("nowhere.conf", e.Message);
    }
}
