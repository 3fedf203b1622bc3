using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Mutual TLS on the data path of a real site: a configuration node (the site's authority), a node whose process server
/// and master target registered with it and require TLS (<c>siterecovery.data-path.tls</c>), and an agent registered with
/// <c>sragent register</c>. It replicates over TLS and recovers byte for byte; every impostor (plain, no certificate,
/// another CA, another role, another machine's certificate, a master target of another identity) is refused by name and
/// logged as a security event, and the real agent goes on replicating.
/// </summary>
public sealed class DataPathTlsTests
{
    const string Disk = "disk1";
    const long Size = 32L << 20;

    static async Task<string> RecoverAsync(Node node, long sequence, string output)
    {
        var r = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence, output });
        Assert.True(r.Status == HttpStatusCode.OK, $"recover {Disk} at #{sequence}: {(int)r.Status} {r.Text}\n{node.Logs(60)}");
        return r.Body!["sha256"]!.GetValue<string>();
    }

    /// <summary>Writes, takes a bookmark and recovers at it: the image must be the real disk, byte for byte. Returns the bookmark's sequence.</summary>
    static async Task<long> ReplicatesAsync(Node node, Agent agent, string real, TempDir dir, string name, string pattern, string at)
    {
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", $"write -P {pattern} {at} 1M"], TimeSpan.FromMinutes(1));
        var sequence = await node.BookmarkAsync(name, [Disk], TimeSpan.FromSeconds(120));
        var output = dir[$"{name}.img"];
        var expected = Files.Sha256(real);
        Assert.Equal(expected, await RecoverAsync(node, sequence, output));
        Assert.True(Files.Sha256(output) == expected, $"the image recovered at {name} is not the real disk\n{node.Logs(60)}\n{agent.Logs(30)}");
        return sequence;
    }

    static async Task<string> SecurityLineAsync(Node node, string contains, Func<string> logs, int after = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (node.Process!.Lines.Skip(after).FirstOrDefault(l => l.Contains("security: ", StringComparison.Ordinal) && l.Contains(contains, StringComparison.Ordinal)) is { } line)
                return line;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no security line with '{contains}'\n{logs()}");
            await Task.Delay(200);
        }
    }

    /// <summary>Starts an agent that must never be served; returns once the node logged the security event naming why.</summary>
    static async Task<string> RefusedAgentAsync(Node node, Agent impostor, string reason, Func<string> logs)
    {
        var before = node.Process!.Lines.Count;
        var start = impostor.StartAsync(TimeSpan.FromSeconds(90));
        _ = start.ContinueWith(t => t.Exception, TaskScheduler.Default);
        var line = await SecurityLineAsync(node, reason, logs, before);
        await Task.Delay(500);
        Assert.False(start.IsCompletedSuccessfully, $"the impostor agent became ready\n{logs()}");
        impostor.Kill9();
        return line;
    }

    /// <summary>A folder as registration leaves it, but with a certificate for agent <paramref name="id"/> from a CA of its own.</summary>
    static void ForeignCertificate(string folder, string id, string siteAuthorityPem)
    {
        using var key = WriterIdentity.Open(folder);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=not the site", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));
        var request = new CertificateRequest(new X500DistinguishedName($"CN={id}, OU=Agent"), PublicKey.CreateFromSubjectPublicKeyInfo(key.PublicKey, out _), HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri($"urn:siterecovery:agent:{id}"));
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
        new EnrollmentCertificates(key.Fingerprint, issued.ExportCertificatePem(), siteAuthorityPem).Store(folder);
    }

    [Fact]
    public async Task Replication_under_required_TLS_recovers_byte_for_byte_and_every_impostor_is_refused_while_the_agent_goes_on()
    {
        using var dir = new TempDir("datapath-tls");
        using var site = await TlsSite.StartAsync(dir);
        var node = site.DataNode(dir, "d", "process-server,master-target");
        await node.StartAsync(TimeSpan.FromSeconds(90));
        var real = dir["real.img"];
        Files.CreateDisk(real, Size, seed: 51);
        await site.RegisterAgentAsync("vm1", dir["agent"]);
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        var impostors = new List<Agent>();
        string Logs() => node.Logs(80) + "\n" + agent.Logs(30) + "\n" + string.Join('\n', impostors.Select(i => i.Logs(20)));

        await ReplicatesAsync(node, agent, real, dir, "first", "0x11", "1M");
        Assert.Contains(node.Process!.Lines, l => l.Contains("agent vm1", StringComparison.Ordinal) && l.Contains("TLS as agent vm1", StringComparison.Ordinal));
        var cache = Path.Combine(node.DataDir, "process-server", "cache");
        var binding = File.ReadAllBytes(Path.Combine(cache, Disk, "writer"));

        // A plain agent (never registered): refused in the clear, naming what to do.
        var plain = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["plain"], dir.Path);
        impostors.Add(plain);
        await RefusedAgentAsync(node, plain, nameof(HopRefusal.TlsRequired), Logs);
        await plain.Process!.WaitForLineAsync(l => l.Contains("requires TLS: register the agent with sragent register", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the refusal's reason");

        // A certificate for vm1 from another CA (it trusts the real site, so only the process server's check can stop it).
        var site1Authority = File.ReadAllText(Path.Combine(dir["agent"], EnrollmentCertificates.AuthorityFileName));
        ForeignCertificate(dir["foreign"], "vm1", site1Authority);
        var foreign = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["foreign"], dir.Path);
        impostors.Add(foreign);
        Assert.Contains("not issued by this site's authority", await RefusedAgentAsync(node, foreign, nameof(HopRefusal.NotCertified), Logs));

        // Machine vmA's own, real certificate, used by an agent that says it is vm1.
        await site.RegisterAgentAsync("vmA", dir["vmA"]);
        var other = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["vmA"], dir.Path);
        impostors.Add(other);
        Assert.Contains("names source vm1, but the certificate is for agent vmA", await RefusedAgentAsync(node, other, nameof(HopRefusal.NotTheCertifiedComponent), Logs));

        var psCredentials = new HopCredentials(Path.Combine(node.DataDir, "keys", "components", "d-ps"));
        var vmA = new HopCredentials(dir["vmA"]);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var endpoint = IPEndPoint.Parse(node.PsAddress);
        async Task<ControlMessage?> SayAsync(HopCredentials own, Hello hello)
        {
            await using var hop = await HopConnector.ConnectAsync(endpoint, new HopClientTls(own, new ExpectedPeer(ComponentKind.ProcessServer, "d-ps")), "process server", stop.Token);
            await FrameIo.WriteAsync(hop.Stream, FrameType.Control, hello.ToBytes(), stop.Token);
            await hop.Stream.FlushAsync(stop.Token);
            var answer = await FrameIo.ReadAsync(hop.Stream, stop.Token, FrameHeader.MaxControlFrame);
            return answer is { } a ? ControlMessage.Parse(a.Body) : null;
        }

        // vmA's certificate and key, naming itself, but offering vm1's disk.
        using (var vmAKey = WriterIdentity.Open(dir["vmA"]))
        {
            var refused = Assert.IsType<Refused>(await SayAsync(vmA, vmAKey.Sign(new Hello("vmA", [new DiskOffer(Disk, Size, "vm1")], ProtocolVersion.Current))));
            Assert.Contains("offered for machine vm1, but the certificate is for agent vmA", refused.Reason);
            // ... or offering it as its own: the process server knows the disk is vm1's.
            refused = Assert.IsType<Refused>(await SayAsync(vmA, vmAKey.Sign(new Hello("vmA", [new DiskOffer(Disk, Size, "vmA")], ProtocolVersion.Current))));
            Assert.Contains($"disk {Disk} is machine vm1's", refused.Reason);
        }
        // The process server's own certificate on the agent listener: the wrong role.
        using (var psKey = WriterIdentity.Open(psCredentials.Directory))
        {
            var refused = Assert.IsType<Refused>(await SayAsync(psCredentials, psKey.Sign(new Hello("d-ps", [], ProtocolVersion.Current))));
            Assert.Contains(nameof(HopRefusal.WrongRole), refused.Reason);
        }
        await SecurityLineAsync(node, nameof(HopRefusal.WrongRole), Logs);

        // TLS without any client certificate.
        using (var raw = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(endpoint, stop.Token);
            await using var ssl = new SslStream(new NetworkStream(raw, ownsSocket: false), false, (_, _, _, _) => true);
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "siterecovery" }, stop.Token);
                await FrameIo.WriteAsync(ssl, FrameType.Control, new Hello("vm1", [new DiskOffer(Disk, Size, "vm1")], ProtocolVersion.Current).ToBytes(), stop.Token);
                Assert.Null(await FrameIo.ReadAsync(ssl, stop.Token, FrameHeader.MaxControlFrame));
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException) { }
        }
        Assert.Contains(nameof(HopRefusal.NotCertified), await SecurityLineAsync(node, "no client certificate", Logs));

        // Nothing stored changed: the cache holds the one disk, still bound to the real agent's key.
        Assert.Equal(new[] { Disk }, Directory.EnumerateDirectories(cache).Select(d => Path.GetFileName(d)!).ToArray());
        Assert.Equal(binding, File.ReadAllBytes(Path.Combine(cache, Disk, "writer")));
        // Nothing of it reached the disk: the real agent goes on, and the next point is the real disk byte for byte.
        await ReplicatesAsync(node, agent, real, dir, "second", "0x22", "5M");
        foreach (var i in impostors) i.Dispose();
    }

    /// <summary>
    /// A TCP relay in front of a master target, switched by the test: what a redirected address (DNS, a routing change)
    /// does to a process server. Pairs are cut at a switch, so the next connection reaches the new target.
    /// </summary>
    sealed class Relay : IDisposable
    {
        readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        readonly CancellationTokenSource _stop = new();
        readonly List<Socket> _open = [];
        volatile string _target;

        public Relay(string target)
        {
            _target = target;
            _listener.Start();
            _ = Task.Run(AcceptAsync);
        }

        public string Address => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public void SwitchTo(string target)
        {
            _target = target;
            lock (_open) { foreach (var s in _open) s.Dispose(); _open.Clear(); }
        }

        async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket client;
                try { client = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    lock (_open) { _open.Add(client); _open.Add(server); }
                    try
                    {
                        await server.ConnectAsync(IPEndPoint.Parse(_target), _stop.Token);
                        await using var a = new NetworkStream(client, ownsSocket: true);
                        await using var b = new NetworkStream(server, ownsSocket: true);
                        await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
                    }
                    catch (Exception) { }
                    finally { client.Dispose(); server.Dispose(); }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            SwitchTo(_target);
        }
    }

    [Fact]
    public async Task A_master_target_of_another_identity_is_refused_by_the_process_server_and_replication_goes_on_at_the_real_one()
    {
        using var dir = new TempDir("datapath-tls-mt");
        using var site = await TlsSite.StartAsync(dir);
        var real = site.DataNode(dir, "m", "master-target");
        var impostor = site.DataNode(dir, "x", "master-target");
        await Task.WhenAll(real.StartAsync(TimeSpan.FromSeconds(90)), impostor.StartAsync(TimeSpan.FromSeconds(90)));
        using var relay = new Relay(impostor.MtAddress);
        var ps = site.DataNode(dir, "p", "process-server", relay.Address, "siterecovery.data-path.tls.master-target-id = \"m-mt\"\n");
        await ps.StartAsync(TimeSpan.FromSeconds(90));
        var disk = dir["real.img"];
        Files.CreateDisk(disk, Size, seed: 52);
        await site.RegisterAgentAsync("vm1", dir["agent"]);
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = disk }, ps.PsAddress, dir["agent"], dir.Path);
        string Logs() => ps.Logs(60) + "\n" + real.Logs(30) + "\n" + impostor.Logs(30) + "\n" + agent.Logs(30);

        // The relay leads to master target x-mt, a real component of the site, but not the one the process server pins.
        var ready = agent.StartAsync(TimeSpan.FromSeconds(120));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!ps.Process!.Lines.Any(l => l.Contains("is refused: its certificate is for mastertarget x-mt", StringComparison.Ordinal) && l.Contains(nameof(HopRefusal.WrongIdentity), StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the process server never refused master target x-mt\n{Logs()}");
            await Task.Delay(200);
        }
        Assert.False(Directory.Exists(Path.Combine(impostor.DataDir, "master-target", "replicas", Disk)) || Directory.EnumerateFiles(Path.Combine(impostor.DataDir, "master-target"), Disk + "*", SearchOption.AllDirectories).Any(),
            $"the impostor master target holds something of {Disk}\n{Logs()}");

        // An agent's certificate at a master target: it serves process servers only.
        using (var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            await using var hop = await HopConnector.ConnectAsync(IPEndPoint.Parse(real.MtAddress), new HopClientTls(new HopCredentials(dir["agent"]), new ExpectedPeer(ComponentKind.MasterTarget, "m-mt")), "master target", stop.Token);
            await FrameIo.WriteAsync(hop.Stream, FrameType.Control, new Hello("vm1", [], ProtocolVersion.Current).ToBytes(), stop.Token);
            var frame = await FrameIo.ReadAsync(hop.Stream, stop.Token, FrameHeader.MaxControlFrame);
            Assert.Contains(nameof(HopRefusal.WrongRole), Assert.IsType<Refused>(ControlMessage.Parse(frame!.Value.Body)).Reason);
        }
        await SecurityLineAsync(real, nameof(HopRefusal.WrongRole), Logs);

        // The address leads to the real master target again: the agent is served and its disk replicates byte for byte.
        relay.SwitchTo(real.MtAddress);
        await ready;
        await ReplicatesAsync(real, agent, disk, dir, "after", "0x33", "2M");
    }

    /// <summary>
    /// Revocation on the data path: a registered agent replicates over TLS; once it is removed from its configuration
    /// server, the data node (which fetches the site's signed revocation list every second here) closes its live session
    /// at once and refuses its certificate at every reconnect, naming the revocation; what was replicated before stays
    /// recoverable.
    /// </summary>
    [Fact]
    public async Task A_removed_agent_loses_its_live_session_and_every_reconnect_is_refused_as_revoked()
    {
        using var dir = new TempDir("datapath-revoked");
        using var site = await TlsSite.StartAsync(dir);
        var node = site.DataNode(dir, "d", "process-server,master-target", moreHocon: "siterecovery.api.revocation-list-refresh-interval = 1s\n");
        await node.StartAsync(TimeSpan.FromSeconds(90));
        var real = dir["real.img"];
        Files.CreateDisk(real, Size, seed: 53);
        await site.RegisterAgentAsync("vm1", dir["agent"]);
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        string Logs() => node.Logs(80) + "\n" + agent.Logs(30);
        var point = await ReplicatesAsync(node, agent, real, dir, "before", "0x21", "1M");
        var replicated = Files.Sha256(real);
        var before = node.Process!.Lines.Count;

        var removed = await site.Config.Api.DeleteAsync("api/configuration-servers/cs1/components/vm1");
        Assert.True(removed.Status == HttpStatusCode.OK, removed.Text);
        var closed = await SecurityLineAsync(node, "its certificate was revoked", Logs, before);
        Assert.Contains("closed the session of agent vm1", closed);
        var refused = await SecurityLineAsync(node, "is revoked", Logs, before);
        Assert.Contains("refused agent vm1", refused);
        Assert.Contains(nameof(HopRefusal.Refused), refused);
        // Refused again at its next attempts, not served once in between.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.DoesNotContain(node.Process.Lines.Skip(before), l => l.Contains("TLS as agent vm1", StringComparison.Ordinal));
        Assert.Contains(agent.Process!.Lines, l => l.Contains("is revoked", StringComparison.Ordinal));

        // What it replicated before the removal is still there.
        Assert.Equal(replicated, await RecoverAsync(node, point, dir["kept.img"]));
    }
}
