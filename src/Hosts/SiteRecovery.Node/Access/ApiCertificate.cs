using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node.Access;

/// <summary>
/// The certificate an https API serves. Given (<c>--api-certificate CERT.pem --api-certificate-key KEY.pem</c>) it is
/// used as it is; otherwise the node makes a self-signed one on first need (ECDSA P-256, one year) for the names a client
/// may use (localhost, the loopback addresses, the <c>--api</c> host, this machine's name): <c>keys/api.key</c> (0600)
/// and <c>keys/api.crt</c>, the public half a client trusts (<c>srctl --ca-file</c>). It is made again when it has less
/// than a month left or does not name the <c>--api</c> host.
/// </summary>
public static class ApiCertificate
{
    static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);
    static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    public static string CertificatePath(string keysDirectory) => Path.Combine(keysDirectory, "api.crt");
    static string KeyPath(string keysDirectory) => Path.Combine(keysDirectory, "api.key");

    public static X509Certificate2 Load(string certificatePem, string keyPem)
    {
        try { return Usable(X509Certificate2.CreateFromPemFile(certificatePem, keyPem)); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--api-certificate '{certificatePem}' with key '{keyPem}' cannot be used: {e.Message}");
        }
    }

    /// <summary>This node's own certificate for <paramref name="apiHost"/>, made or renewed as needed.</summary>
    public static X509Certificate2 OwnFor(string keysDirectory, string apiHost, DateTimeOffset now)
    {
        PrivateFiles.CreateDirectory(keysDirectory);
        var certPath = CertificatePath(keysDirectory);
        var keyPath = KeyPath(keysDirectory);
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            var existing = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            if (existing.NotAfter > (now + RenewBefore).UtcDateTime && existing.MatchesHostname(apiHost, allowWildcards: false))
                return Usable(existing);
            existing.Dispose();
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=siterecovery-node-api {Environment.MachineName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in new[] { "localhost", Environment.MachineName }.Concat(IPAddress.TryParse(apiHost, out _) ? [] : new[] { apiHost }).Distinct(StringComparer.OrdinalIgnoreCase))
            names.AddDnsName(dns);
        foreach (var ip in new[] { IPAddress.Loopback, IPAddress.IPv6Loopback }.Concat(IPAddress.TryParse(apiHost, out var a) ? [a] : []).Distinct())
            names.AddIpAddress(ip);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var made = request.CreateSelfSigned(now.AddMinutes(-5), now + Lifetime);
        PrivateFiles.WriteAtomically(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
        File.WriteAllText(certPath + ".new", made.ExportCertificatePem());
        File.Move(certPath + ".new", certPath, overwrite: true);
        return Usable(X509Certificate2.CreateFromPemFile(certPath, keyPath));
    }

    // A certificate made from PEM holds an ephemeral key that SslStream on Linux can use as it is; re-importing it as
    // PKCS#12 gives the key a form every TLS backend accepts.
    static X509Certificate2 Usable(X509Certificate2 cert)
    {
        using (cert) return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }
}
