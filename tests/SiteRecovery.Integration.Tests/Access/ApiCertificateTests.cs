using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Node.Access;
using Xunit;

namespace SiteRecovery.Integration.Tests.Access;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApiCertificateTests : IDisposable
{
    readonly string _keys = Path.Combine(Directory.CreateTempSubdirectory("sr-cert-").FullName, "keys");

    public void Dispose() { try { Directory.Delete(Path.GetDirectoryName(_keys)!, true); } catch (IOException) { } }

    [Fact]
    public void The_node_makes_one_certificate_for_its_names_keeps_it_and_makes_another_near_expiry_or_for_a_new_host()
    {
        var now = DateTimeOffset.UtcNow;
        using var first = ApiCertificate.OwnFor(_keys, "10.1.2.3", now);
        Assert.True(first.HasPrivateKey);
        foreach (var name in new[] { "localhost", "127.0.0.1", "10.1.2.3", Environment.MachineName })
            Assert.True(first.MatchesHostname(name), $"the certificate does not name {name}");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_keys, "api.key")));
        Assert.DoesNotContain("PRIVATE", File.ReadAllText(ApiCertificate.CertificatePath(_keys)));

        using (var again = ApiCertificate.OwnFor(_keys, "10.1.2.3", now.AddDays(100)))
            Assert.Equal(first.Thumbprint, again.Thumbprint);
        using (var renewed = ApiCertificate.OwnFor(_keys, "10.1.2.3", now.AddDays(340)))
            Assert.NotEqual(first.Thumbprint, renewed.Thumbprint);
        using var moved = ApiCertificate.OwnFor(_keys, "dr-node.example", now.AddDays(340));
        Assert.True(moved.MatchesHostname("dr-node.example"));
    }

    [Fact]
    public void A_given_certificate_without_its_key_or_on_plain_http_is_refused_by_name()
    {
        Assert.Contains("give both", Assert.Throws<ArgumentException>(() => ApiTls.For(new Uri("https://127.0.0.1:1"), "a.pem", null, _keys)).Message);
        Assert.Contains("not https", Assert.Throws<ArgumentException>(() => ApiTls.For(new Uri("http://127.0.0.1:1"), "a.pem", "k.pem", _keys)).Message);
        Assert.Contains("cannot be used", Assert.Throws<ArgumentException>(() => ApiTls.For(new Uri("https://127.0.0.1:1"), "/nonexistent/a.pem", "/nonexistent/k.pem", _keys)).Message);
        Assert.Null(ApiTls.For(new Uri("http://127.0.0.1:1"), null, null, _keys).Certificate);
    }
}
