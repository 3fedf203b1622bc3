using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node.Access;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// Mutual TLS on a data-path listener (<see cref="SessionListener"/> with <see cref="HopListenerTls"/>) and its connecting
/// side (<see cref="HopConnector"/>), with certificates the site authority really issues (<see cref="SiteAuthority"/>) for
/// keys made the way components make them (<see cref="WriterIdentity"/>): who gets in, who is refused and why.
/// </summary>
public sealed class HopTlsTests : IDisposable
{
    internal sealed class Pki : IDisposable
    {
        readonly SiteAuthority _authority;
        public string Root { get; }

        public Pki(string root)
        {
            Root = root;
            _authority = SiteAuthority.OpenOrCreate(Path.Combine(root, "ca"), DateTimeOffset.UtcNow);
        }

        /// <summary>A component's folder as registration leaves it: writer.key, component.crt, site-ca.crt.</summary>
        public HopCredentials Component(ComponentKind kind, string id, string? folderName = null)
        {
            var folder = Path.Combine(Root, folderName ?? $"{kind}-{id}");
            using var key = WriterIdentity.Open(folder);
            using var certificate = _authority.Issue(id, kind, key.PublicKey, DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
            new EnrollmentCertificates(key.Fingerprint, certificate.ExportCertificatePem(), _authority.CertificatePem).Store(folder);
            return new HopCredentials(folder);
        }

        public string AuthorityPem => _authority.CertificatePem;

        public void Dispose() => _authority.Dispose();
    }

    readonly string _root = Path.Combine(Path.GetTempPath(), "hop-tls-" + Guid.NewGuid().ToString("N"));
    readonly Pki _site;
    readonly List<string> _log = [];
    readonly List<HopPeer?> _served = [];
    readonly List<Hello> _hellos = [];
    readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(2));

    public HopTlsTests() => _site = new Pki(Path.Combine(_root, "site"));

    public void Dispose()
    {
        _stop.Cancel();
        _site.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    string Logs() { lock (_log) return string.Join('\n', _log); }

    /// <summary>A listener serving <paramref name="serves"/> that answers every hello it accepts with resume.</summary>
    SessionListener Listen(HopTlsMode mode, HopCredentials? own, ComponentKind serves = ComponentKind.Agent, Func<HopPeer, string?>? check = null)
    {
        var listener = new SessionListener("process server", new IPEndPoint(IPAddress.Loopback, 0), tls: new HopListenerTls(mode, own, serves, check));
        _ = listener.AcceptAsync(async (hop, ct) =>
        {
            lock (_served) _served.Add(hop.Peer);
            await using (hop)
            {
                var sender = new FrameSender(hop.Stream);
                var reader = new FrameReader(hop.Stream);
                if (await SessionHandshake.AcceptAsync(reader, sender.SendAsync, ct, hop: hop) is not { } hello) return;
                lock (_hellos) _hellos.Add(hello);
                await sender.SendAsync(SessionHandshake.ResumeFor(hello, new Dictionary<string, long>()), ct);
                try { await reader.ReadAsync(ct); } catch (Exception e) when (e is IOException or OperationCanceledException) { }
            }
        }, m => { lock (_log) _log.Add(m); }, _stop.Token);
        return listener;
    }

    async Task<(HopConnection Connection, Resume Resume)> HelloAsync(SessionListener listener, HopClientTls? tls, string source)
    {
        var hop = await HopConnector.ConnectAsync(listener.BoundEndpoint!, tls, "process server", _stop.Token);
        try
        {
            var resume = await SessionHandshake.OpenAsync(hop.Stream, hop.Stream, new Hello(source, []), "process server", _stop.Token);
            return (hop, resume);
        }
        catch
        {
            await hop.DisposeAsync();
            throw;
        }
    }

    static HopClientTls AgentTls(HopCredentials own, string? processServerId = null) => new(own, new ExpectedPeer(ComponentKind.ProcessServer, processServerId));

    async Task<string> SecurityLineAsync(string contains)
    {
        for (var i = 0; i < 100; i++)
        {
            lock (_log)
                if (_log.FirstOrDefault(l => l.StartsWith("security: ", StringComparison.Ordinal) && l.Contains(contains, StringComparison.Ordinal)) is { } line) return line;
            await Task.Delay(50);
        }
        throw new TimeoutException($"no security line with '{contains}'\n{Logs()}");
    }

    [Fact]
    public void The_peer_is_read_from_the_site_certificate_and_a_certificate_without_a_component_names_none()
    {
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var loaded = agent.Load();
        using var key = WriterIdentity.Open(agent.Directory);
        Assert.Equal(new HopPeer(ComponentKind.Agent, "vm1", key.Fingerprint), HopPeer.From(loaded.Certificate));

        using var ca = TestPki.Authority("other");
        using var plain = TestPki.Client(ca, "vm1");
        Assert.Null(HopPeer.From(plain));

        Assert.Null(new ExpectedPeer(ComponentKind.Agent).Problem(HopPeer.From(loaded.Certificate)));
        Assert.Contains(nameof(HopRefusal.WrongRole), new ExpectedPeer(ComponentKind.ProcessServer).Problem(HopPeer.From(loaded.Certificate)));
        Assert.Contains(nameof(HopRefusal.WrongIdentity), new ExpectedPeer(ComponentKind.Agent, "vm2").Problem(HopPeer.From(loaded.Certificate)));
    }

    [Fact]
    public async Task A_certified_agent_and_process_server_authenticate_each_other_over_TLS_1_3_and_each_knows_the_other_by_certificate()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var listener = Listen(HopTlsMode.Required, ps);
        var (hop, _) = await HelloAsync(listener, AgentTls(agent, "ps1"), "vm1");
        await using (hop)
        {
            var ssl = Assert.IsAssignableFrom<System.Net.Security.SslStream>(hop.Stream);
            Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, ssl.SslProtocol);
            using var psKey = WriterIdentity.Open(ps.Directory);
            Assert.Equal(new HopPeer(ComponentKind.ProcessServer, "ps1", psKey.Fingerprint), hop.Peer);
        }
        using var agentKey = WriterIdentity.Open(agent.Directory);
        lock (_served) Assert.Equal(new HopPeer(ComponentKind.Agent, "vm1", agentKey.Fingerprint), Assert.Single(_served));
    }

    [Fact]
    public async Task A_plain_client_at_a_required_listener_is_refused_by_name_and_served_at_an_optional_one()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        using var required = Listen(HopTlsMode.Required, ps);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => HelloAsync(required, null, "vm1"));
        Assert.Contains("requires TLS: register the agent with sragent register", e.Message);
        Assert.Contains(nameof(HopRefusal.TlsRequired), e.Message);
        await SecurityLineAsync(nameof(HopRefusal.TlsRequired));
        lock (_served) Assert.Empty(_served);

        using var optional = Listen(HopTlsMode.Optional, ps);
        var (plain, _) = await HelloAsync(optional, null, "vm1");
        await using (plain) Assert.Null(plain.Peer);
    }

    [Fact]
    public async Task A_certificate_from_another_authority_or_none_is_refused_in_the_handshake()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        using var listener = Listen(HopTlsMode.Required, ps);
        using var other = new Pki(Path.Combine(_root, "other"));
        var foreign = other.Component(ComponentKind.Agent, "vm1");
        // It trusts the real site (so only the process server's check can refuse it), but its certificate is the other CA's.
        File.WriteAllText(Path.Combine(foreign.Directory, EnrollmentCertificates.AuthorityFileName), _site.AuthorityPem);
        await Assert.ThrowsAnyAsync<IOException>(() => HelloAsync(listener, AgentTls(foreign), "vm1"));
        Assert.Contains("not issued by this site's authority", await SecurityLineAsync(nameof(HopRefusal.NotCertified)));
        lock (_served) Assert.Empty(_served);
    }

    [Fact]
    public async Task A_process_server_certificate_at_the_agent_listener_is_refused_as_the_wrong_role()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        var otherPs = _site.Component(ComponentKind.ProcessServer, "ps2");
        using var listener = Listen(HopTlsMode.Required, ps);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => HelloAsync(listener, AgentTls(otherPs), "ps2"));
        Assert.Contains(nameof(HopRefusal.WrongRole), e.Message);
        Assert.Contains("processserver ps2", e.Message);
        await SecurityLineAsync(nameof(HopRefusal.WrongRole));
        lock (_served) Assert.Empty(_served);
    }

    [Fact]
    public async Task A_hello_naming_another_source_than_the_certificate_is_refused()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var listener = Listen(HopTlsMode.Required, ps);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => HelloAsync(listener, AgentTls(agent), "vm2"));
        Assert.Contains("names source vm2, but the certificate is for agent vm1", e.Message);
        Assert.Contains(nameof(HopRefusal.NotTheCertifiedComponent), e.Message);
        await SecurityLineAsync(nameof(HopRefusal.NotTheCertifiedComponent));
    }

    [Fact]
    public async Task The_connecting_side_refuses_a_server_of_another_kind_or_id_than_it_pins()
    {
        var impostor = _site.Component(ComponentKind.Agent, "ps1");
        var ps2 = _site.Component(ComponentKind.ProcessServer, "ps2");
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using (var wrongKind = Listen(HopTlsMode.Required, impostor))
            Assert.Contains(nameof(HopRefusal.WrongRole), (await Assert.ThrowsAsync<IOException>(() => HelloAsync(wrongKind, AgentTls(agent), "vm1"))).Message);
        using (var wrongId = Listen(HopTlsMode.Required, ps2))
        {
            var e = await Assert.ThrowsAsync<IOException>(() => HelloAsync(wrongId, AgentTls(agent, "ps1"), "vm1"));
            Assert.Contains(nameof(HopRefusal.WrongIdentity), e.Message);
            Assert.Contains("not processserver ps1", e.Message);
        }
        // The client checks the server's certificate once the handshake is done on the wire: the server may see it end,
        // but never a hello.
        lock (_hellos) Assert.Empty(_hellos);
    }

    [Fact]
    public async Task The_listeners_own_check_refuses_a_certified_peer_by_name()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var listener = Listen(HopTlsMode.Required, ps, check: p => p.Id == "vm1" ? "certificate of agent vm1 is revoked" : null);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => HelloAsync(listener, AgentTls(agent), "vm1"));
        Assert.Contains("certificate of agent vm1 is revoked", e.Message);
        await SecurityLineAsync("revoked");
    }

    [Fact]
    public async Task A_renewed_certificate_is_used_at_the_next_connection_without_a_restart()
    {
        var ps = _site.Component(ComponentKind.ProcessServer, "ps1");
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var listener = Listen(HopTlsMode.Required, ps);
        var (first, _) = await HelloAsync(listener, AgentTls(agent), "vm1");
        var before = first.Peer!.KeySha256;
        await first.DisposeAsync();

        // The process server's folder gets a new key and certificate (what a renewal that rotates the key leaves).
        File.Delete(Path.Combine(ps.Directory, WriterIdentity.KeyFileName));
        _site.Component(ComponentKind.ProcessServer, "ps1");
        var (second, _) = await HelloAsync(listener, AgentTls(agent), "vm1");
        await using (second)
        {
            Assert.NotEqual(before, second.Peer!.KeySha256);
            using var renewed = WriterIdentity.Open(ps.Directory);
            Assert.Equal(renewed.Fingerprint, second.Peer.KeySha256);
        }
    }

    [Fact]
    public async Task A_TLS_client_at_a_listener_with_TLS_off_fails_with_a_clear_error_and_required_needs_a_certificate()
    {
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var off = Listen(HopTlsMode.Off, null);
        var e = await Assert.ThrowsAnyAsync<IOException>(() => HelloAsync(off, AgentTls(agent), "vm1"));
        Assert.Contains("does not speak TLS", e.Message);
        await SecurityLineAsync(nameof(HopRefusal.TlsNotOffered));

        var empty = new HopCredentials(Path.Combine(_root, "nothing"));
        var refused = Assert.Throws<IOException>(() => new SessionListener("process server", new IPEndPoint(IPAddress.Loopback, 0), tls: new HopListenerTls(HopTlsMode.Required, empty, ComponentKind.Agent)));
        Assert.Contains("holds no certificate", refused.Message);
    }

    [Fact]
    public void A_certified_agent_must_sign_with_its_certified_key_and_offer_only_its_own_machines_disks()
    {
        var agent = _site.Component(ComponentKind.Agent, "vm1");
        using var key = WriterIdentity.Open(agent.Directory);
        using var other = WriterIdentity.Ephemeral();
        var peer = new HopPeer(ComponentKind.Agent, "vm1", key.Fingerprint);
        string? None(string _) => null;

        Assert.Null(HopAuthorization.AgentHelloProblem(peer, key.Sign(new Hello("vm1", [new DiskOffer("d1", 1 << 20, "vm1")])), None));
        var wrongKey = HopAuthorization.AgentHelloProblem(peer, other.Sign(new Hello("vm1", [new DiskOffer("d1", 1 << 20, "vm1")])), None);
        Assert.Contains("not the certified key", wrongKey!.Value.Detail);
        var unsigned = HopAuthorization.AgentHelloProblem(peer, new Hello("vm1", []), None);
        Assert.Contains("(none)", unsigned!.Value.Detail);
        var otherMachine = HopAuthorization.AgentHelloProblem(peer, key.Sign(new Hello("vm1", [new DiskOffer("d2", 1 << 20, "vm2")])), None);
        Assert.Equal("d2", otherMachine!.Value.DiskId);
        Assert.Contains("offered for machine vm2", otherMachine.Value.Detail);
        var recorded = HopAuthorization.AgentHelloProblem(peer, key.Sign(new Hello("vm1", [new DiskOffer("d3", 1 << 20, "vm1")])), d => d == "d3" ? "vm2" : null);
        Assert.Contains("disk d3 is machine vm2's", recorded!.Value.Detail);
    }
}
