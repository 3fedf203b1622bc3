using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node.Access;

/// <summary>
/// The site's certificate authority, kept by the node that runs the configuration role: <c>keys/site-ca.key</c> (ECDSA
/// P-256, 0600 from creation, never logged) and <c>keys/site-ca.crt</c>, the certificate every component of the site
/// trusts. It certifies the key a component's registration vouched for (the passphrase proof covers the key's hash), for
/// that component's id and kind, so a certificate says "this key is process server ps1 of this site". It is made on the
/// node's first start with the role and kept; a lost key means every component registers again
/// (<c>docs/architecture.md</c>, "Site authority", says how to back it up).
/// </summary>
public sealed class SiteAuthority : IDisposable
{
    /// <summary>Long enough to outlive any deployment's hardware; components' certificates are short and renewed.</summary>
    static readonly TimeSpan Lifetime = TimeSpan.FromDays(3650);

    /// <summary>The URI a certificate names its component by (subject alternative name): <c>urn:siterecovery:KIND:ID</c>.</summary>
    public static string ComponentUri(ComponentKind kind, string componentId) => $"urn:siterecovery:{kind.ToString().ToLowerInvariant()}:{componentId}";

    public static string CertificatePath(string keysDirectory) => Path.Combine(keysDirectory, "site-ca.crt");
    public static string KeyPath(string keysDirectory) => Path.Combine(keysDirectory, "site-ca.key");

    readonly X509Certificate2 _certificate;
    readonly ECDsa _key;

    SiteAuthority(X509Certificate2 certificate, ECDsa key)
    {
        _certificate = certificate;
        _key = key;
    }

    /// <summary>The authority's certificate, without its key.</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>PEM of <see cref="Certificate"/>: what a component stores to trust the site.</summary>
    public string CertificatePem => _certificate.ExportCertificatePem();

    /// <summary>The authority in <paramref name="keysDirectory"/>, made there when there is none.</summary>
    public static SiteAuthority OpenOrCreate(string keysDirectory, DateTimeOffset now)
    {
        PrivateFiles.CreateDirectory(keysDirectory);
        var certPath = CertificatePath(keysDirectory);
        var keyPath = KeyPath(keysDirectory);
        if (File.Exists(keyPath) || File.Exists(certPath))
        {
            // Half an authority (a crash between the two writes, or a file removed by hand) is not replaced silently:
            // a new key would orphan every certificate already issued.
            if (!File.Exists(keyPath) || !File.Exists(certPath))
                throw new InvalidOperationException($"the site authority in '{keysDirectory}' is incomplete: '{(File.Exists(keyPath) ? certPath : keyPath)}' is missing " +
                    "(restore both files from the backup, or remove the other one to make a new authority, after which every component registers again)");
            if (PrivateFiles.OpenToOthers(keyPath))
                throw new InvalidOperationException($"the site authority's key '{keyPath}' is open to other users; chmod 600 it");
            var key = ECDsa.Create();
            try
            {
                key.ImportFromPem(File.ReadAllText(keyPath));
                var cert = X509CertificateLoader.LoadCertificateFromFile(certPath);
                if (!cert.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
                    throw new InvalidOperationException($"the site authority's certificate '{certPath}' is not for the key beside it");
                return new SiteAuthority(cert, key);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                key.Dispose();
                throw new InvalidOperationException($"the site authority in '{keysDirectory}' cannot be read: {e.Message}");
            }
        }
        var made = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        // The name carries part of the key's hash: a certificate is named by (serial, issuer) in revocations, so two
        // authorities made the same day on machines of the same name must not share a name.
        var keyTag = Convert.ToHexStringLower(SHA256.HashData(made.ExportSubjectPublicKeyInfo()))[..12];
        var request = new CertificateRequest($"CN=SiteRecovery site authority {Environment.MachineName} {now:yyyy-MM-dd} {keyTag}", made, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var self = request.CreateSelfSigned(now.AddMinutes(-5), now + Lifetime);
        // The key first (no overwrite: two nodes starting on one directory cannot both make one), then the certificate.
        PrivateFiles.WriteAtomically(keyPath, System.Text.Encoding.ASCII.GetBytes(made.ExportPkcs8PrivateKeyPem()), overwrite: false);
        PrivateFiles.WriteAtomically(certPath, System.Text.Encoding.ASCII.GetBytes(self.ExportCertificatePem()), overwrite: false);
        return new SiteAuthority(X509CertificateLoader.LoadCertificate(self.RawData), made);
    }

    /// <summary>
    /// A certificate for <paramref name="subjectPublicKeyInfo"/> (DER) as component <paramref name="componentId"/> of
    /// kind <paramref name="kind"/>, valid as <see cref="Plan"/> says. For client and server authentication both: a process server is a server to agents
    /// and a client of its master target.
    /// </summary>
    public X509Certificate2 Issue(string componentId, ComponentKind kind, byte[] subjectPublicKeyInfo, DateTimeOffset now, TimeSpan lifetime) =>
        Issue(componentId, kind, subjectPublicKeyInfo, Plan(now, lifetime));

    /// <summary>The authority's name as a certificate it issued names its issuer (<c>X509Certificate2.IssuerName.Name</c>).</summary>
    public string Issuer => _certificate.SubjectName.Name;

    /// <summary>
    /// The next certificate's serial (128 random bits, positive, with no leading zero byte so its hex reads back the same)
    /// and validity: from a few minutes ago (clocks differ) for <paramref name="lifetime"/>, never past the authority's
    /// own end. Decided before signing so the journal can name the serial first.
    /// </summary>
    public CertificatePlan Plan(DateTimeOffset now, TimeSpan lifetime)
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x3F) | 0x40);
        var notAfter = now + lifetime < _certificate.NotAfter ? now + lifetime : new DateTimeOffset(_certificate.NotAfter);
        return new CertificatePlan(Convert.ToHexString(serial), Issuer, now.AddMinutes(-5).ToUnixTimeMilliseconds(), notAfter.ToUnixTimeMilliseconds());
    }

    /// <summary>The certificate <paramref name="plan"/> describes, for <paramref name="subjectPublicKeyInfo"/> as <paramref name="componentId"/>.</summary>
    public X509Certificate2 Issue(string componentId, ComponentKind kind, byte[] subjectPublicKeyInfo, CertificatePlan plan)
    {
        var publicKey = PublicKey.CreateFromSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={componentId}, OU={kind}"), publicKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(ComponentUri(kind, componentId)));
        request.CertificateExtensions.Add(names.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        return request.Create(_certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key),
            DateTimeOffset.FromUnixTimeMilliseconds(plan.NotBeforeUnixMs), DateTimeOffset.FromUnixTimeMilliseconds(plan.NotAfterUnixMs), Convert.FromHexString(plan.SerialHex));
    }

    /// <summary>The authority's key as encrypted PKCS#8 PEM (<see cref="SiteAuthorityBackup"/>); the clear key is never exported.</summary>
    /// <summary>
    /// The site's certificate revocation list (an X.509 CRL, DER), signed by this authority: every certificate of it in
    /// <paramref name="revoked"/>, numbered <paramref name="number"/> (the count of revocations, which only grows) and valid
    /// for <paramref name="validity"/>. Public by nature, as every CRL: serials and times, no secret.
    /// </summary>
    public byte[] RevocationList(IEnumerable<Revocation> revoked, long number, DateTimeOffset now, TimeSpan validity)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var r in revoked.Where(r => r.Issuer == Issuer))
            builder.AddEntry(Convert.FromHexString(r.SerialHex), DateTimeOffset.FromUnixTimeMilliseconds(r.AtUnixMs),
                r.Reason == SiteRecovery.Contracts.Control.CertificateRevocationReason.ComponentRemoved ? X509RevocationReason.CessationOfOperation : X509RevocationReason.Superseded);
        using var signer = _certificate.CopyWithPrivateKey(_key);
        return builder.Build(signer, number, now + validity, HashAlgorithmName.SHA256, thisUpdate: now);
    }

    public string ExportEncrypted(string passphrase, PbeParameters parameters) => _key.ExportEncryptedPkcs8PrivateKeyPem(passphrase, parameters);

    public void Dispose()
    {
        _key.Dispose();
        _certificate.Dispose();
    }
}
