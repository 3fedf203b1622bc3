using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Net;
using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SiteAuthorityTests : IDisposable
{
    readonly string _keys = Path.Combine(Directory.CreateTempSubdirectory("sr-ca-").FullName, "keys");

    public void Dispose() { try { Directory.Delete(Path.GetDirectoryName(_keys)!, true); } catch (IOException) { } }

    static X509Certificate2Collection Trusting(SiteAuthority ca) => [X509CertificateLoader.LoadCertificate(ca.Certificate.RawData)];

    [Fact]
    public void The_authority_is_made_once_with_a_private_key_and_certifies_a_components_key_for_its_id_and_kind_only()
    {
        var now = DateTimeOffset.UtcNow;
        using var ca = SiteAuthority.OpenOrCreate(_keys, now);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_keys, "site-ca.key")));
        Assert.DoesNotContain("PRIVATE", File.ReadAllText(SiteAuthority.CertificatePath(_keys)));
        Assert.Contains(ca.Certificate.Extensions.OfType<X509BasicConstraintsExtension>(), b => b.CertificateAuthority);
        using (var again = SiteAuthority.OpenOrCreate(_keys, now.AddDays(1)))
            Assert.Equal(ca.Certificate.Thumbprint, again.Certificate.Thumbprint);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issued = ca.Issue("ps1-ps", ComponentKind.ProcessServer, key.ExportSubjectPublicKeyInfo(), now, TimeSpan.FromDays(30));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), issued.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
        Assert.Contains("CN=ps1-ps", issued.Subject);
        var san = issued.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains(SiteAuthority.ComponentUri(ComponentKind.ProcessServer, "ps1-ps"), san.Format(false));
        Assert.Equal("urn:siterecovery:processserver:ps1-ps", SiteAuthority.ComponentUri(ComponentKind.ProcessServer, "ps1-ps"));
        Assert.InRange(issued.NotAfter.ToUniversalTime(), now.AddDays(30).UtcDateTime.AddSeconds(-2), now.AddDays(30).UtcDateTime.AddSeconds(2));
        Assert.True(CertificateTrust.IssuedToClientBy(Trusting(ca), issued, null), "the issued certificate does not chain to the authority for client authentication");

        // Another site's authority does not vouch for it, and a self-made certificate for the same key is not the site's.
        using var other = SiteAuthority.OpenOrCreate(Path.Combine(_keys, "..", "other"), now);
        Assert.False(CertificateTrust.IssuedToClientBy(Trusting(other), issued, null));
        using var selfMade = new CertificateRequest("CN=ps1-ps", key, HashAlgorithmName.SHA256).CreateSelfSigned(now, now.AddDays(1));
        Assert.False(CertificateTrust.IssuedToClientBy(Trusting(ca), selfMade, null));
    }

    [Fact]
    public void Half_an_authority_or_a_key_others_can_read_is_refused_by_name_and_not_replaced()
    {
        var now = DateTimeOffset.UtcNow;
        string thumbprint;
        using (var ca = SiteAuthority.OpenOrCreate(_keys, now)) thumbprint = ca.Certificate.Thumbprint;
        var keyFile = Path.Combine(_keys, "site-ca.key");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Contains("open to other users", Assert.Throws<InvalidOperationException>(() => SiteAuthority.OpenOrCreate(_keys, now)).Message);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var certFile = SiteAuthority.CertificatePath(_keys);
        var pem = File.ReadAllText(certFile);
        File.Delete(certFile);
        var e = Assert.Throws<InvalidOperationException>(() => SiteAuthority.OpenOrCreate(_keys, now));
        Assert.Contains("incomplete", e.Message);
        Assert.Contains(certFile, e.Message);
        Assert.False(File.Exists(certFile), "a missing certificate was made again for a key that may have issued others");
        File.WriteAllText(certFile, pem);
        using var restored = SiteAuthority.OpenOrCreate(_keys, now);
        Assert.Equal(thumbprint, restored.Certificate.Thumbprint);
    }
}
