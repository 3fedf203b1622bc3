using SiteRecovery.Node.Cluster;
using Xunit;

namespace SiteRecovery.Integration.Tests.Cluster;

/// <summary>
/// Where a node's cluster remoting listens and whom it joins, from <c>hocon/cluster.hocon</c>, <c>--config</c> and the
/// flags: the default is a free loopback port and no seed (the node joins itself); a bad value stops the start, named.
/// </summary>
public sealed class ClusterSettingsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-cluster-settings-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    string Conf(string text)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("n")[..6] + ".conf");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void The_default_listens_on_a_free_loopback_port_and_joins_itself()
    {
        var s = ClusterSettings.Load(null, null, [], listenAny: false);
        Assert.Equal(new ClusterEndpoint("127.0.0.1", 0), s.Listen);
        Assert.True(s.JoinsItself);
    }

    [Fact]
    public void Flags_replace_the_file_and_seeds_become_addresses_of_the_nodes_system()
    {
        var conf = Conf("siterecovery.cluster { listen = \"127.0.0.1:4100\", seed-nodes = [\"127.0.0.1:4200\"] }");
        var fromFile = ClusterSettings.Load(conf, null, [], listenAny: false);
        Assert.Equal(4100, fromFile.Listen.Port);
        Assert.Equal("akka.tcp://siterecovery@127.0.0.1:4200", Assert.Single(fromFile.Seeds).Address(ClusterSettings.SystemName).ToString());
        var fromFlags = ClusterSettings.Load(conf, "127.0.0.1:4300", ["127.0.0.1:4400", "[::1]:4500"], listenAny: false);
        Assert.Equal(4300, fromFlags.Listen.Port);
        Assert.Equal(["127.0.0.1:4400", "[::1]:4500"], fromFlags.Seeds.Select(x => x.ToString()));
        Assert.False(fromFlags.JoinsItself);
    }

    [Theory]
    [InlineData("0.0.0.0:4100", false, "other nodes cannot reach a node at 0.0.0.0")]
    [InlineData("10.1.2.3:4100", false, "beyond loopback")]
    [InlineData("127.0.0.1", false, "is not HOST:PORT")]
    [InlineData("127.0.0.1:70000", false, "is not HOST:PORT")]
    [InlineData("::1:4100", false, "IPv6 address goes in brackets")]
    public void A_bad_listen_address_stops_the_start_naming_the_flag(string listen, bool any, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterSettings.Load(null, listen, [], any));
        Assert.Contains("--cluster-listen", e.Message);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void An_address_beyond_loopback_is_taken_when_the_operator_accepts_it_and_a_bad_seed_is_named()
    {
        Assert.Equal("10.1.2.3", ClusterSettings.Load(null, "10.1.2.3:4100", [], listenAny: true).Listen.Host);
        var e = Assert.Throws<ArgumentException>(() => ClusterSettings.Load(null, null, ["seed-without-port"], false));
        Assert.Contains("--cluster-seed 'seed-without-port' is not HOST:PORT", e.Message);
        var file = Assert.Throws<ArgumentException>(() => ClusterSettings.Load(Conf("siterecovery.cluster.seed-nodes = [\"x\"]"), null, [], false));
        Assert.Contains("siterecovery.cluster.seed-nodes 'x'", file.Message);
    }

    [Fact]
    public void A_leave_or_down_finds_a_member_by_full_address_or_host_port_and_names_what_it_cannot()
    {
        Akka.Actor.Address[] members = [new("akka.tcp", "siterecovery", "127.0.0.1", 4100), new("akka.tcp", "siterecovery", "127.0.0.1", 4200)];
        Assert.Equal(members[1], ClusterMembersView.Find(members, "127.0.0.1:4200").Member);
        Assert.Equal(members[0], ClusterMembersView.Find(members, "akka.tcp://siterecovery@127.0.0.1:4100").Member);
        var none = ClusterMembersView.Find(members, "127.0.0.1:4300");
        Assert.Equal(ClusterAddressRefusal.NoMember, none.Refusal);
        Assert.Contains("no cluster member at 127.0.0.1:4300; members: akka.tcp://siterecovery@127.0.0.1:4100, akka.tcp://siterecovery@127.0.0.1:4200", none.Why);
        Assert.Equal(ClusterAddressRefusal.NoMember, ClusterMembersView.Find(members, "akka.tcp://other@127.0.0.1:4100").Refusal);
        Assert.Equal(ClusterAddressRefusal.BadAddress, ClusterMembersView.Find(members, "no address").Refusal);
        Assert.Equal(ClusterAddressRefusal.BadAddress, ClusterMembersView.Find(members, "akka.tcp://").Refusal);
    }
}
