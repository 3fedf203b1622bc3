using System.Security.Cryptography;
using System.Text;

namespace SiteRecovery.Contracts.Control;

/// <summary>Why a component's certificates stopped being trusted before their end.</summary>
public enum CertificateRevocationReason
{
    /// <summary>The component was removed from its configuration server.</summary>
    ComponentRemoved,
    /// <summary>The component registered again with another key (or none): what its earlier key was certified for ends.</summary>
    KeyReplaced,
}

/// <summary>How a certificate came to be issued.</summary>
public enum CertificateIssuance
{
    /// <summary>At a registration that proved the passphrase.</summary>
    Registration,
    /// <summary>At a renewal that proved possession of a current certificate's key.</summary>
    Renewal,
}

/// <summary>
/// The certificate the site's authority is about to sign, decided before it is signed so that the journal names its serial
/// first: a certificate whose serial the journal does not hold could never be revoked. <paramref name="SerialHex"/>:
/// upper-case hex as <c>X509Certificate2.SerialNumber</c> prints it; <paramref name="Issuer"/>: the authority's subject
/// (distinguished name as <c>X500DistinguishedName.Name</c> prints it).
/// </summary>
public sealed record CertificatePlan(string SerialHex, string Issuer, long NotBeforeUnixMs, long NotAfterUnixMs);

/// <summary>A certificate the site's authority issued to a component, as the configuration server keeps it.</summary>
public sealed record IssuedCertificate(string SerialHex, string Issuer, string KeySha256, long NotBeforeUnixMs, long NotAfterUnixMs,
    CertificateRevocationReason? Revoked = null);

/// <summary>One certificate a revocation names: serial, issuer, and its end (after which nobody needs to remember it).</summary>
public sealed record RevokedCertificate(string SerialHex, string Issuer, long NotAfterUnixMs);

/// <summary>
/// The proof a renewal carries: the component signs, with the key of a certificate it holds, a fresh nonce of the
/// configuration server together with the hash of the key to be certified, so a relayed proof cannot have another key
/// certified and a recorded one cannot be replayed. ECDSA signatures are IEEE P1363 over SHA-256; RSA ones PKCS#1 v1.5 over SHA-256.
/// </summary>
public static class RenewalProof
{
    public static byte[] Payload(string configServerId, string componentId, string nonce, string newKeySha256) =>
        Encoding.UTF8.GetBytes($"siterecovery-renewal-v1\n{configServerId}\n{componentId}\n{nonce}\n{newKeySha256}");

    /// <summary>Whether <paramref name="signatureBase64"/> is a signature of <paramref name="payload"/> by the key <paramref name="subjectPublicKeyInfo"/>.</summary>
    public static bool Verify(byte[] subjectPublicKeyInfo, byte[] payload, string? signatureBase64)
    {
        if (signatureBase64 is null) return false;
        byte[] signature;
        try { signature = Convert.FromBase64String(signatureBase64); }
        catch (FormatException) { return false; }
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return ec.VerifyData(payload, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException) { }
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return rsa.VerifyData(payload, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException) { return false; }
    }
}

// ---- commands ----
/// <summary>
/// Removes a registered component: every certificate issued to it that has not ended is revoked
/// (<see cref="CertificateRevocationReason.ComponentRemoved"/>). Reply <see cref="ComponentRemovedReply"/>.
/// </summary>
public sealed record RemoveComponent(string ConfigServerId, string ComponentId, long NowUnixMs) : IConfigurationServerCommand;

/// <summary>Step 1 of a certificate's renewal: reply <see cref="RenewalChallenge"/> with a single-use nonce.</summary>
public sealed record BeginRenewal(string ConfigServerId, string ComponentId, long NowUnixMs) : IConfigurationServerMessage;

/// <summary>
/// Step 2: the component presents its current certificate (serial, issuer, public key) and <paramref name="Signature"/>
/// = the key's signature over <see cref="RenewalProof.Payload"/>(server, component, nonce, SHA-256 of the key to certify).
/// <paramref name="NewPublicKey"/>: another key to certify (base64 SubjectPublicKeyInfo), or null for the same key.
/// <paramref name="Plan"/>: the certificate to be issued (its serial). The certificate presented stays valid until it
/// ends unless it is revoked. <paramref name="Versions"/>: as in <see cref="CompleteRegistration"/> (a component upgraded
/// since it registered says so here). Reply <see cref="CertificateRenewed"/> or a refusal naming why.
/// </summary>
public sealed record RenewCertificate(string ConfigServerId, string ComponentId, string Nonce, string PresentedSerialHex, string PresentedIssuer,
    string PresentedPublicKey, string Signature, string? NewPublicKey, CertificatePlan Plan, long NowUnixMs, ReportedVersions? Versions = null)
    : IConfigurationServerCommand;

// ---- replies ----
public sealed record ComponentRemovedReply(string ConfigServerId, string ComponentId, ComponentKind Kind, IReadOnlyList<RevokedCertificate> Revoked) : RegistrationReply;

public sealed record RenewalChallenge(string ConfigServerId, string ComponentId, string Nonce, long ExpiresAtUnixMs) : RegistrationReply;

public sealed record CertificateRenewed(string ConfigServerId, string ComponentId, ComponentKind Kind, string SerialHex, string KeySha256) : RegistrationReply;

// ---- events ----
/// <summary>
/// The site's authority issues a certificate with this serial to the component, for the key <paramref name="KeySha256"/>:
/// journaled before the certificate is signed, so every certificate that exists is named here. <paramref name="Nonce"/>:
/// the challenge it answered, used up by it.
/// </summary>
[Manifest("configuration-server-certificate-issued.v1")]
public sealed record ComponentCertificateIssued(string ServerId, string ComponentId, ComponentKind Kind, string SerialHex, string Issuer, string KeySha256,
    long NotBeforeUnixMs, long NotAfterUnixMs, long IssuedAtUnixMs, CertificateIssuance Issuance, string Nonce) : IConfigurationServerEvent;

/// <summary>These certificates of the component are no longer trusted, from <paramref name="AtUnixMs"/> on, for <paramref name="Reason"/>.</summary>
[Manifest("configuration-server-certificates-revoked.v1")]
public sealed record ComponentCertificatesRevoked(string ServerId, string ComponentId, IReadOnlyList<RevokedCertificate> Certificates,
    CertificateRevocationReason Reason, long AtUnixMs) : IConfigurationServerEvent;

[Manifest("configuration-server-component-removed.v1")]
public sealed record ComponentRemoved(string ServerId, string ComponentId, ComponentKind Kind, long AtUnixMs) : IConfigurationServerEvent;

[Manifest("configuration-server-renewal-challenge-issued.v1")]
public sealed record RenewalChallengeIssued(string ServerId, string ComponentId, ComponentKind Kind, string Nonce, long IssuedAtUnixMs, long ExpiresAtUnixMs)
    : IConfigurationServerEvent;
