using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node.Access;
using SiteRecovery.Contracts.Processes;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

/// <summary>
/// The site's revocation list as it travels: the authority signs an X.509 CRL of its revocations (openssl reads it), a
/// data-path node takes it in only with the authority's signature and issuer, refuses what it names by certificate
/// serial, keeps the list in use when handed an older, forged or damaged one, and says which serials are new.
/// </summary>
public sealed class SiteRevocationListTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("sr-crl-").FullName;

    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    string Keys(string name) => Path.Combine(_root, name, "keys");

    static (X509Certificate2 Certificate, CertificatePlan Plan) Issue(SiteAuthority ca, string id)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var plan = ca.Plan(DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        return (ca.Issue(id, ComponentKind.Agent, key.ExportSubjectPublicKeyInfo(), plan), plan);
    }

    static RevocationList Revoking(params CertificatePlan[] plans)
    {
        var list = new RevocationList();
        foreach (var plan in plans)
            list.Apply(new ComponentCertificatesRevoked("cs1", "vm1", [new RevokedCertificate(plan.SerialHex, plan.Issuer, plan.NotAfterUnixMs)],
                CertificateRevocationReason.ComponentRemoved, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        return list;
    }

    static byte[] Crl(SiteAuthority ca, RevocationList list, DateTimeOffset? at = null) =>
        ca.RevocationList(list.All, list.All.Count, at ?? DateTimeOffset.UtcNow, TimeSpan.FromDays(1));

    [Fact]
    public async Task A_signed_list_refuses_exactly_the_revoked_certificates_and_says_which_are_new()
    {
        using var ca = SiteAuthority.OpenOrCreate(Keys("a"), DateTimeOffset.UtcNow);
        var (first, firstPlan) = Issue(ca, "vm1");
        var (second, secondPlan) = Issue(ca, "vm2");
        var (kept, _) = Issue(ca, "vm3");
        using (first) using (second) using (kept)
        {
            var revoked = new RevokedCertificates();
            Assert.Empty(revoked.Load(Crl(ca, new RevocationList()), ca.Certificate));
            Assert.Null(revoked.Check(HopPeer.From(first)!));

            var crl = Crl(ca, Revoking(firstPlan), DateTimeOffset.UtcNow.AddSeconds(1));
            Assert.Equal([firstPlan.SerialHex], revoked.Load(crl, ca.Certificate));
            Assert.Contains($"certificate {firstPlan.SerialHex} of agent vm1", revoked.Check(HopPeer.From(first)!));
            Assert.Null(revoked.Check(HopPeer.From(kept)!));

            // openssl, a real client of the format, reads it as the site authority's CRL naming that serial.
            var file = Path.Combine(_root, "site.crl");
            await File.WriteAllBytesAsync(file, crl);
            var text = (await ExternalTool.RunOkAsync("openssl", ["crl", "-inform", "DER", "-in", file, "-noout", "-text"], TimeSpan.FromSeconds(30))).StdOut;
            Assert.Contains(firstPlan.SerialHex, text.Replace(":", ""), StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Cessation Of Operation", text);

            // A newer list adds one: only the new serial is reported, both are refused.
            var both = Crl(ca, Revoking(firstPlan, secondPlan), DateTimeOffset.UtcNow.AddSeconds(2));
            Assert.Equal([secondPlan.SerialHex], revoked.Load(both, ca.Certificate));
            Assert.NotNull(revoked.Check(HopPeer.From(second)!));
            Assert.Equal(2, revoked.Count);
        }
    }

    [Fact]
    public void A_list_not_signed_by_the_site_authority_or_damaged_or_older_is_refused_and_the_one_in_use_stays()
    {
        using var ca = SiteAuthority.OpenOrCreate(Keys("a"), DateTimeOffset.UtcNow);
        using var other = SiteAuthority.OpenOrCreate(Keys("o"), DateTimeOffset.UtcNow);
        var (cert, plan) = Issue(ca, "vm1");
        using (cert)
        {
            var revoked = new RevokedCertificates();
            var now = DateTimeOffset.UtcNow;
            revoked.Load(Crl(ca, Revoking(plan), now), ca.Certificate);

            // Another authority's list that would clear it: refused (signature), the revocation stays.
            var forged = Assert.Throws<InvalidDataException>(() => revoked.Load(Crl(other, new RevocationList(), now.AddSeconds(5)), ca.Certificate));
            Assert.Contains("signature is not the site authority's", forged.Message);
            // A flipped bit in the signed part.
            var damaged = Crl(ca, new RevocationList(), now.AddSeconds(5));
            damaged[damaged.Length / 3] ^= 0x01;
            Assert.Throws<InvalidDataException>(() => revoked.Load(damaged, ca.Certificate));
            // An older list that did not have it yet (replayed by someone between the node and its configuration node).
            var older = Assert.Throws<InvalidDataException>(() => revoked.Load(Crl(ca, new RevocationList(), now.AddMinutes(-5)), ca.Certificate));
            Assert.Contains("older than the one in use", older.Message);
            Assert.NotNull(revoked.Check(HopPeer.From(cert)!));
            Assert.Equal(1, revoked.Count);
        }
    }
}
