using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// After its hello, a session (data or control, at the process server and at the master target) that says nothing for
/// the idle timeout is closed and logged with its peer and the reason; one that sends keepalives, as every real
/// connecting end does when quiet, stays open; and a peer older than keepalives is never cut for silence.
/// </summary>
public sealed class IdleTimeoutTests
{
    const long Size = 4L << 20;
    // Short for a test, long beside a thread-pool stall of a loaded 2-core test machine: a keepalive (every third of it)
    // or its reading that is late by more than two thirds of it would cut a live session.
    static readonly TimeSpan Idle = TimeSpan.FromSeconds(2);

    static Action<Site> Short => s =>
    {
        s.ConfigureProcess = o => o with { IdleTimeout = Idle };
        s.ConfigureTarget = o => o with { IdleTimeout = Idle };
    };

    // Three components' sessions starting at once (initial replication, spool and journal opening) stall the pool more.
    static readonly TimeSpan RealIdle = TimeSpan.FromSeconds(3);

    // A disk offered to the process server is offered on to the master target by its forwarder, which would take over a
    // session of the test's for the same disk there: each end gets disks of its own.
    static IEnumerable<(System.Net.IPEndPoint Endpoint, string Role, string Disk)> Ends(Site site) =>
        [(site.ProcessEndpoint!, "process server", "ps-disk"), (site.TargetEndpoint!, "master target", "mt-disk")];

    static async Task<(WireClient Client, Resume Answer)> SayHelloAsync(System.Net.IPEndPoint endpoint, string source, IReadOnlyList<DiskOffer> disks, int version)
    {
        var client = await WireClient.ConnectAsync(endpoint);
        await client.SendControlAsync(new Hello(source, disks, version));
        return (client, Assert.IsType<Resume>(await client.ReadControlAsync()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_session_that_says_nothing_past_its_idle_timeout_is_closed_and_logged_with_the_peer_and_the_reason(bool control)
    {
        await using var site = await Site.StartServersAsync("idle-cut", Short);
        foreach (var (endpoint, role, disk) in Ends(site))
        {
            var source = $"silent-{role.Replace(' ', '-')}";
            var (client, answer) = await SayHelloAsync(endpoint, source, control ? [] : [new DiskOffer(disk, Size, "m")], ProtocolVersion.Current);
            await using var _ = client;
            Assert.Equal(ProtocolVersion.Current, answer.Version);
            Assert.Equal((long)Idle.TotalMilliseconds / 3, answer.KeepaliveMs);
            Assert.True(await client.ClosedByPeerAsync(TimeSpan.FromSeconds(20)), $"{role} kept a silent session open past its {Idle} idle timeout");
            await UntilLoggedAsync(site, l => l.Contains("nothing received (idle-timeout)") && (control ? l.Contains(source) : l.Contains($"({source})")));
        }
    }

    [Fact]
    public async Task A_session_that_sends_keepalives_stays_open_and_is_cut_once_they_stop()
    {
        await using var site = await Site.StartServersAsync("idle-kept", Short);
        foreach (var (endpoint, role, disk) in Ends(site))
        {
            // This end's own lines: the previous end's cut may be logged a moment after its client saw the close.
            int Cut() { lock (site.Log) return site.Log.Count(l => l.StartsWith(role + ":", StringComparison.Ordinal) && (l.Contains("idle-timeout") || l.Contains("ignoring Keepalive"))); }
            var cutBefore = Cut();
            var (client, answer) = await SayHelloAsync(endpoint, "kept", [new DiskOffer(disk, Size, "m")], ProtocolVersion.Current);
            await using var _ = client;
            // Four idle timeouts of keepalives at the pace the resume asked for.
            for (var i = 0; i < 4 * Idle.TotalMilliseconds / answer.KeepaliveMs; i++)
            {
                await client.SendControlAsync(Keepalive.Instance);
                await Task.Delay(TimeSpan.FromMilliseconds(answer.KeepaliveMs));
            }
            Assert.False(await client.ClosedByPeerAsync(TimeSpan.FromMilliseconds(100)), $"{role} closed a session that kept sending keepalives");
            lock (site.Log) Assert.True(cutBefore == Cut(), $"{role}: a session was cut or a keepalive refused while keepalives came:\n{string.Join("\n", site.Log)}");
            Assert.True(await client.ClosedByPeerAsync(TimeSpan.FromSeconds(20)), $"{role} kept the session open after its keepalives stopped");
        }
    }

    [Fact]
    public async Task A_peer_older_than_keepalives_is_not_asked_for_them_nor_cut_for_silence()
    {
        await using var site = await Site.StartServersAsync("idle-old", Short);
        foreach (var (endpoint, role, disk) in Ends(site))
        {
            var (client, answer) = await SayHelloAsync(endpoint, "old", [new DiskOffer(disk, Size, "m")], ProtocolVersion.Keepalives - 1);
            await using var _ = client;
            Assert.Equal(ProtocolVersion.Keepalives - 1, answer.Version);
            Assert.Equal(0, answer.KeepaliveMs);
            Assert.False(await client.ClosedByPeerAsync(3 * Idle), $"{role} cut a version-{answer.Version} session for silence, which it cannot prevent");
        }
    }

    [Fact]
    public async Task A_real_agent_and_process_server_with_nothing_to_send_stay_connected_past_many_idle_timeouts()
    {
        await using var site = await Site.StartAsync("idle-real", 1, Size, configure: s =>
        {
            s.ConfigureProcess = o => o with { IdleTimeout = RealIdle };
            s.ConfigureTarget = o => o with { IdleTimeout = RealIdle };
        });
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        int Connects() { lock (site.Log) return site.Log.Count(l => l.Contains("connected to process server") || l.Contains("agent agent-1 (")); }
        var before = Connects();
        // Nothing writes: every session of the three components (the agent's two, the forwarder's, the control link) is quiet.
        await Task.Delay(4 * RealIdle);
        lock (site.Log)
        {
            Assert.False(site.Log.Any(l => l.Contains("idle-timeout") || l.Contains("ignoring Keepalive") || l.Contains("control connection") && l.Contains("ended")),
                $"a quiet session was cut:\n{string.Join("\n", site.Log)}");
        }
        lock (site.Log) Assert.True(before == Connects(), $"the agent connected again while quiet:\n{string.Join("\n", site.Log)}");
        // And it still replicates over those same sessions.
        await SiteRecovery.Contracts.Processes.ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x5e 0 64k\"", TimeSpan.FromMinutes(1));
        await site.CatchUpAsync(TimeSpan.FromSeconds(30));
        lock (site.Log) Assert.True(before == Connects(), $"the agent connected again:\n{string.Join("\n", site.Log)}");
    }

    [Fact]
    public void A_resume_to_an_older_peer_carries_no_keepalive_field_and_one_to_a_newer_peer_reads_back()
    {
        var durable = new Dictionary<string, long> { ["d"] = 7 };
        var old = SiteRecovery.Connections.SessionHandshake.ResumeFor(new Hello("old", [], 2), durable, Idle);
        Assert.Equal(0, old.KeepaliveMs);
        Assert.DoesNotContain("keepalive", System.Text.Encoding.UTF8.GetString(old.ToBytes()), StringComparison.OrdinalIgnoreCase);
        var current = SiteRecovery.Connections.SessionHandshake.ResumeFor(new Hello("new", [], ProtocolVersion.Current), durable, Idle);
        Assert.Equal((long)Idle.TotalMilliseconds / 3, Assert.IsType<Resume>(ControlMessage.Parse(current.ToBytes())).KeepaliveMs);
        Assert.Equal(0, SiteRecovery.Connections.SessionHandshake.ResumeFor(new Hello("new", [], ProtocolVersion.Current), durable, null).KeepaliveMs);
    }

    [Fact]
    public void The_timeouts_are_read_from_datapath_hocon_and_a_bad_value_names_its_key()
    {
        var shipped = SiteRecovery.Node.DataPathSettings.Load(null);
        var any = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0);
        (TimeSpan Hello, TimeSpan? Idle) Read(Akka.Configuration.Config c, string role) => role == "process-server"
            ? SiteRecovery.Node.DataPathSettings.Apply(c, new SiteRecovery.Actors.DataPath.ProcessServerOptions("ps", any, "c", any)) is var p ? (p.HelloTimeout, p.IdleTimeout) : default
            : SiteRecovery.Node.DataPathSettings.Apply(c, new SiteRecovery.Actors.DataPath.MasterTargetOptions("mt", any, "d")) is var m ? (m.HelloTimeout, m.IdleTimeout) : default;
        foreach (var role in new[] { "process-server", "master-target" })
        {
            Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2)), Read(shipped, role));
            Akka.Configuration.Config Set(string key, string value) => Akka.Configuration.ConfigurationFactory.ParseString($"siterecovery.data-path.{role}.{key} = {value}").WithFallback(shipped);
            Assert.Null(Read(Set("idle-timeout", "off"), role).Idle);
            Assert.Equal(TimeSpan.FromSeconds(45), Read(Set("idle-timeout", "45s"), role).Idle);
            foreach (var (key, value, says) in new[] { ("idle-timeout", "sometimes", "not a duration"), ("idle-timeout", "1s", "is under its least"), ("hello-timeout", "2s", "is under its least"), ("hello-timeout", "soon", "not a duration") })
            {
                var e = Assert.Throws<ArgumentException>(() => Read(Set(key, value), role));
                Assert.Contains($"siterecovery.data-path.{role}.{key}", e.Message);
                Assert.Contains(says, e.Message);
            }
        }
    }

    static async Task UntilLoggedAsync(Site site, Func<string, bool> line)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            lock (site.Log)
                if (site.Log.Any(line)) return;
            await Task.Delay(20);
        }
        lock (site.Log) Assert.Fail($"no such log line:\n{string.Join("\n", site.Log.TakeLast(20))}");
    }
}
