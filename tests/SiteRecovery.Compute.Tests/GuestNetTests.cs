using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

// The SR-NET lines exactly as build-tiny-guest.sh's init prints them; the boots that produce them are in GuestNetworkBootTests.
public class GuestNetTests
{
    [Fact]
    public void Net_lines_parse_into_the_card_its_mac_and_its_address_or_why_not()
    {
        Assert.Equal(new GuestNetLine(null, null, null, null), GuestNet.ParseNet("SR-NET NONE"));
        Assert.Equal(new GuestNetLine("eth0", "52:54:00:12:34:56", "198.18.7.11/24", null), GuestNet.ParseNet("SR-NET eth0 52:54:00:12:34:56 198.18.7.11/24\r"));
        Assert.Equal(new GuestNetLine("eth0", "52:54:00:12:34:56", null, null), GuestNet.ParseNet("SR-NET eth0 52:54:00:12:34:56 unaddressed"));
        Assert.Equal(new GuestNetLine("eth0", "-", null, "no-eth0-after-10s"), GuestNet.ParseNet("SR-NET eth0 - FAILED no-eth0-after-10s"));
        Assert.Null(GuestNet.ParseNet("SR-NET eth0 52:54:00:12:34:56"));
        Assert.Null(GuestNet.ParseNet("SR-NET eth0 52:54:00:12:34:56 maybe"));
        Assert.Null(GuestNet.ParseNet("SR-NET-PROBE 198.18.7.12 ping=answered tcp=sent"));
        Assert.Null(GuestNet.ParseNet("SR-CHECK NONE"));
    }

    [Fact]
    public void Probe_lines_parse_into_what_answered()
    {
        Assert.Equal(new GuestProbeLine("198.18.7.12", true, true), GuestNet.ParseProbe("SR-NET-PROBE 198.18.7.12 ping=answered tcp=sent"));
        Assert.Equal(new GuestProbeLine("198.18.7.1", false, false), GuestNet.ParseProbe("SR-NET-PROBE 198.18.7.1 ping=unanswered tcp=failed"));
        Assert.Null(GuestNet.ParseProbe("SR-NET-PROBE 198.18.7.1 ping=maybe tcp=failed"));
        Assert.Null(GuestNet.ParseProbe("SR-NET-PROBE 198.18.7.1 ping=answered"));
        Assert.Null(GuestNet.ParseProbe("SR-NET eth0 52:54:00:12:34:56 unaddressed"));
    }

    [Fact]
    public void The_config_names_the_address_as_a_24_and_every_probe()
    {
        var spec = new MachineSpec("m", "m", 256, 1, "bios", NetworkMode.Isolated, "198.18.7.11", "/tmp/m", "g", ["198.18.7.12"]);
        Assert.Equal("addr=198.18.7.11/24 probe=198.18.7.12", GuestNet.Config(spec));
        Assert.Null(GuestNet.Config(spec with { StaticAddress = null }));
        Assert.Null(GuestNet.Config(spec with { Network = NetworkMode.None }));
    }

    [Fact]
    public void Outside_addresses_follow_the_peers_as_words_of_their_own()
    {
        var spec = new MachineSpec("m", "m", 256, 1, "bios", NetworkMode.Isolated, "198.18.7.11", "/tmp/m", "g", ["198.18.7.12", "198.18.7.13"], ["198.18.7.1"]);
        Assert.Equal("addr=198.18.7.11/24 probe=198.18.7.12 probe=198.18.7.13 outside=198.18.7.1", GuestNet.Config(spec));
        Assert.Equal("addr=198.18.7.11/24 outside=198.18.7.1", GuestNet.Config(spec with { GuestProbes = null }));
    }
}
