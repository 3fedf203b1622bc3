using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node;
using SiteRecovery.Node.Access;
using SiteRecovery.Node.Failover;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

/// <summary>
/// The agents a node launches for a reprotect or a return run as long as their machines and hold no enrollment of their
/// own, so they never renew their certificates themselves: the node's renewal check (the site's authority here) issues a
/// due one again, for the same key, and leaves a current one and a plain agent's folder alone.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LaunchedAgentCertificateTests : IDisposable
{
    readonly string _data = Directory.CreateTempSubdirectory("sr-launched-agents-").FullName;

    public void Dispose() { try { Directory.Delete(_data, true); } catch (IOException) { } }

    [Fact]
    public async Task The_renewal_check_certifies_a_due_launched_agent_again_for_its_key_and_leaves_a_current_one_and_a_plain_one_alone()
    {
        var now = DateTimeOffset.UtcNow;
        var settings = ApiSettings.Load(null);
        using var authority = SiteAuthority.OpenOrCreate(Path.Combine(_data, "keys"), now);
        var loopback = new IPEndPoint(IPAddress.Loopback, 0);
        var options = new NodeOptions("n1", NodeRoles.All, _data, loopback, loopback, loopback, "http://127.0.0.1:1", PersistenceSettings.Sqlite(_data), DataPathSettings.Load(null));
        var certificates = new NodeCertificates(options, settings, authority, NullLogger<NodeCertificates>.Instance);
        string Folder(string machine) => Path.Combine(ReverseAgents.WritersDirectory(_data), machine);
        X509Certificate2 Held(string machine) => X509CertificateLoader.LoadCertificateFromFile(Path.Combine(Folder(machine), EnrollmentCertificates.CertificateFileName));

        // vm1 was certified when its reprotect started, long enough ago that less than renew-below of its lifetime is left;
        // vm2 just now; vm3's agent speaks plain (its key, no certificate).
        var longAgo = now - settings.ComponentCertificateLifetime * (1 - settings.RenewBelow / 2);
        Assert.True(certificates.IssueIfDue(Folder("vm1"), "vm1", ComponentKind.Agent, longAgo));
        Assert.True(certificates.IssueIfDue(Folder("vm2"), "vm2", ComponentKind.Agent, now));
        using (WriterIdentity.Open(Folder("vm3"))) { }
        string dueSerial, currentSerial;
        using (var due = Held("vm1")) dueSerial = due.SerialNumber;
        using (var current = Held("vm2")) currentSerial = current.SerialNumber;

        await certificates.RenewLaunchedAgentsAsync(now, CancellationToken.None);

        using (var renewed = Held("vm1"))
        using (var key = WriterIdentity.Open(Folder("vm1")))
        {
            Assert.NotEqual(dueSerial, renewed.SerialNumber);
            var peer = HopPeer.From(renewed);
            Assert.True(peer is { Kind: ComponentKind.Agent, Id: "vm1" } && peer.KeySha256 == key.Fingerprint, $"the renewed certificate names {peer?.ToString() ?? "nothing"}, want agent vm1 with key {key.Fingerprint[..16]}");
            Assert.True(renewed.NotAfter.ToUniversalTime() > (now + settings.ComponentCertificateLifetime - TimeSpan.FromMinutes(1)).UtcDateTime,
                $"renewed until {renewed.NotAfter.ToUniversalTime():u}, want about {now + settings.ComponentCertificateLifetime:u}");
            Assert.True(SiteRecovery.Contracts.Net.CertificateTrust.IssuedToClientBy([X509CertificateLoader.LoadCertificate(authority.Certificate.RawData)], renewed, null),
                "the renewed certificate is not the site authority's");
        }
        using (var current = Held("vm2")) Assert.Equal(currentSerial, current.SerialNumber);
        Assert.False(File.Exists(Path.Combine(Folder("vm3"), EnrollmentCertificates.CertificateFileName)), "a plain agent was given a certificate");
    }
}
