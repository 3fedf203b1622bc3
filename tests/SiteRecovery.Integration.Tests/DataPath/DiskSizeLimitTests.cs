using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A disk offered larger than the configured max-disk-size is refused by name at the process server and at the master
/// target before anything is made for it, and so is every other disk of the same hello; the limit comes from
/// datapath.hocon, checked at start with its key named.
/// </summary>
public sealed class DiskSizeLimitTests
{
    const long Max = 1L << 30;

    [Fact]
    public async Task An_offer_over_the_limit_is_refused_by_name_and_nothing_is_made_for_any_disk_of_the_hello()
    {
        await using var site = await Site.StartServersAsync("disk-size", s =>
        {
            s.ConfigureProcess = o => o with { MaxDiskSize = Max };
            s.ConfigureTarget = o => o with { MaxDiskSize = Max };
        });
        foreach (var (endpoint, role) in new[] { (site.ProcessEndpoint!, "process server"), (site.TargetEndpoint!, "master target") })
        {
            await using var client = await WireClient.ConnectAsync(endpoint);
            // The disk within the limit comes first: it must not be opened before the one after it is checked.
            await client.SendControlAsync(new Hello("agent-big", [new DiskOffer("fits", Max, "m"), new DiskOffer("huge", Max + 1, "m")], ProtocolVersion.Current));
            var refused = Assert.IsType<Refused>(await client.ReadControlAsync());
            Assert.Equal($"disk huge: size {Max + 1} bytes is over this {role}'s max-disk-size of {Max} bytes", refused.Reason);
        }
        var made = Directory.EnumerateFileSystemEntries(site.Root, "*", SearchOption.AllDirectories)
            .Where(p => p.Contains("fits", StringComparison.Ordinal) || p.Contains("huge", StringComparison.Ordinal)).ToList();
        Assert.True(made.Count == 0, $"refused hellos left behind: {string.Join(", ", made)}");
        Assert.Empty(site.Process.Disks);
        Assert.Empty(site.Target.Disks);
        Assert.Empty(site.Target.KnownDiskIds());

        // At the limit exactly the disk is taken.
        await using var agent = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        Assert.Equal(0, await agent.HelloAsync("agent-fits", "fits", Max));
    }

    [Fact]
    public async Task The_default_limit_refuses_a_disk_past_64_TiB()
    {
        await using var site = await Site.StartServersAsync("disk-size-default");
        foreach (var endpoint in new[] { site.ProcessEndpoint!, site.TargetEndpoint! })
        {
            await using var client = await WireClient.ConnectAsync(endpoint);
            await client.SendControlAsync(new Hello("agent-big", [new DiskOffer("huge", (64L << 40) + 1)]));
            Assert.Contains("max-disk-size of 70368744177664 bytes", Assert.IsType<Refused>(await client.ReadControlAsync()).Reason);
        }
    }

    [Fact]
    public void The_limit_is_read_from_datapath_hocon_and_a_bad_value_names_its_key()
    {
        var shipped = DataPathSettings.Load(null);
        var any = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0);
        Assert.Equal(64L << 40, DataPathSettings.Apply(shipped, new ProcessServerOptions("ps", any, "c", any)).MaxDiskSize);
        Assert.Equal(64L << 40, DataPathSettings.Apply(shipped, new MasterTargetOptions("mt", any, "d")).MaxDiskSize);
        foreach (var role in new[] { "process-server", "master-target" })
        {
            var key = $"siterecovery.data-path.{role}.max-disk-size";
            var set = Akka.Configuration.ConfigurationFactory.ParseString($"{key} = 2TiB").WithFallback(shipped);
            Assert.Equal(2L << 40, role == "process-server"
                ? DataPathSettings.Apply(set, new ProcessServerOptions("ps", any, "c", any)).MaxDiskSize
                : DataPathSettings.Apply(set, new MasterTargetOptions("mt", any, "d")).MaxDiskSize);
            foreach (var (value, says) in new[] { ("huge", "not a byte size"), ("2PiB", "is outside"), ("1KiB", "is outside") })
            {
                var bad = Akka.Configuration.ConfigurationFactory.ParseString($"{key} = {value}").WithFallback(shipped);
                var e = Assert.Throws<ArgumentException>(() => role == "process-server"
                    ? (object)DataPathSettings.Apply(bad, new ProcessServerOptions("ps", any, "c", any))
                    : DataPathSettings.Apply(bad, new MasterTargetOptions("mt", any, "d")));
                Assert.Contains(key, e.Message);
                Assert.Contains(says, e.Message);
            }
        }
    }
}
