using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.TestSupport;

/// <summary>
/// Certificates for TLS tests, made in the test (ECDSA P-256, valid from an hour ago for a day): a CA, server
/// certificates naming localhost and 127.0.0.1, and client certificates, each with its private key.
/// </summary>
public static class TestPki
{
    static readonly TimeSpan Backdate = TimeSpan.FromHours(1);
    static readonly TimeSpan Lifetime = TimeSpan.FromDays(1);
    const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>A self-signed CA named <paramref name="name"/>.</summary>
    public static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now - Backdate, now + Lifetime);
    }

    /// <summary>A server certificate for localhost and 127.0.0.1 issued by <paramref name="authority"/>.</summary>
    public static X509Certificate2 Server(X509Certificate2 authority, string name = "localhost") => Issue(authority, name, ServerAuthentication, withNames: true);

    /// <summary>A client certificate issued by <paramref name="authority"/>.</summary>
    public static X509Certificate2 Client(X509Certificate2 authority, string name) => Issue(authority, name, ClientAuthentication, withNames: false);

    static X509Certificate2 Issue(X509Certificate2 authority, string name, string purpose, bool withNames)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(purpose)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        if (withNames)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(authority, now - Backdate / 2, now + Lifetime / 2, RandomNumberGenerator.GetBytes(16));
        var withKey = issued.CopyWithPrivateKey(key);
        // Re-imported so that SslStream can use the key on every platform (a key made in memory is ephemeral).
        using (withKey) return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes the certificate as PEM to <paramref name="certificatePath"/> and, when given, its key (PKCS#8, 0600).</summary>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string? keyPath = null)
    {
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        if (keyPath is null) return;
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException($"{certificate.Subject} has no ECDSA private key");
        using var f = PrivateFiles.Open(keyPath, FileMode.Create, FileAccess.Write);
        f.Write(System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
    }
}
