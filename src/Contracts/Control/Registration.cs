using System.Security.Cryptography;
using System.Text;

namespace SiteRecovery.Contracts.Control;

/// <summary>Why a vault / configuration-server / component-registration request was refused. Each names one problem.</summary>
public enum RegistrationRefusal
{
    /// <summary>A field violates a validation rule (the message names field and rule).</summary>
    InvalidArgument,
    /// <summary>The vault or configuration server does not exist (has not been created/registered).</summary>
    NotFound,
    /// <summary>The entity already exists (with different data, or a one-time action was repeated).</summary>
    AlreadyExists,
    /// <summary>The registration key does not have the <c>srk1.vault.id.issued.expires.signature</c> shape.</summary>
    KeyMalformed,
    /// <summary>The key's signature does not match its fields: some character was changed.</summary>
    KeyTampered,
    /// <summary>The key's validity (5 days from issue) has ended.</summary>
    KeyExpired,
    /// <summary>The key was issued by another (or an unknown) vault than the one it is presented to.</summary>
    KeyForeignVault,
    /// <summary>The key was issued by this vault but has since been revoked (or was never issued).</summary>
    KeyRevoked,
    /// <summary>The challenge-response proof does not match the configuration server's passphrase.</summary>
    WrongPassphrase,
    /// <summary>The nonce was never issued by this configuration server (or is long gone), or belongs to another component.</summary>
    NonceUnknown,
    /// <summary>The nonce was already used for a completed registration.</summary>
    NonceReplayed,
    /// <summary>The nonce's lifetime (60 s) has ended.</summary>
    NonceExpired,
    /// <summary>The vault did not answer the key verification in time.</summary>
    VaultUnavailable,
    /// <summary>A renewal presented a certificate this configuration server did not issue to that component (or whose record is gone).</summary>
    CertificateUnknown,
    /// <summary>A renewal presented a certificate that has been revoked.</summary>
    CertificateRevoked,
    /// <summary>A renewal presented a certificate whose validity has ended.</summary>
    CertificateExpired,
    /// <summary>A renewal's signature was not made by the presented certificate's key over this nonce and key to certify.</summary>
    SignatureInvalid,
    /// <summary>The component reported a version newer than its configuration server's: the configuration server is upgraded first.</summary>
    ComponentNewer,
}

/// <summary>Every answer of the registration actors. A refused request persisted nothing.</summary>
public abstract record RegistrationReply
{
    public bool IsAccepted => this is not Refused;

    /// <summary>Refused with a reason and a message naming the field/problem.</summary>
    public sealed record Refused(RegistrationRefusal Reason, string Message) : RegistrationReply;

    /// <summary>Accepted; <paramref name="EventCount"/> events were persisted (0 = idempotent no-op).</summary>
    public sealed record Accepted(int EventCount) : RegistrationReply;
}

/// <summary>What registers with a configuration server. <see cref="Agent"/>: a protected machine's agent, whose key is its writer identity.</summary>
public enum ComponentKind { ProcessServer, MasterTarget, Agent }

/// <summary>Redaction helpers for records that carry secrets.</summary>
public static class Redact
{
    public const string Marker = "***";
}

/// <summary>
/// Client-side and server-side half of the passphrase challenge-response.
/// The configuration server stores only <c>K = PBKDF2-SHA256(passphrase, salt, iterations, 32)</c>; a component that
/// knows the passphrase derives the same K from the salt returned with the challenge and proves it with
/// <c>HMAC-SHA256(K, nonce ‖ 0x00 ‖ componentId)</c>. The passphrase itself never travels. A component that asks for a
/// certificate adds <c>0x00 ‖ SHA-256 of its public key (hex)</c>: the proof then vouches for that key too, so whoever
/// sits between the component and the configuration server cannot have a key of their own certified with it.
/// </summary>
public static class PassphraseProof
{
    public const int DerivedKeyBytes = 32;
    public const int SaltBytes = 16;
    public const int MinIterations = 100_000;
    public const int DefaultIterations = 100_000;

    /// <summary>K = PBKDF2-SHA256(passphrase, salt, iterations) — what the server stores.</summary>
    public static byte[] DeriveKey(string passphrase, ReadOnlySpan<byte> salt, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        if (iterations < MinIterations) throw new ArgumentOutOfRangeException(nameof(iterations), $"iterations must be >= {MinIterations}");
        return Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(passphrase), salt, iterations, HashAlgorithmName.SHA256, DerivedKeyBytes);
    }

    /// <summary>Proof from a derived key (server side verification, and the second half of <see cref="Compute"/>).</summary>
    public static string FromDerivedKey(ReadOnlySpan<byte> derivedKey, string nonce, string componentId, string? keySha256 = null)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(componentId);
        var message = Encoding.UTF8.GetBytes(keySha256 is null ? nonce + "\0" + componentId : nonce + "\0" + componentId + "\0" + keySha256);
        return Convert.ToBase64String(HMACSHA256.HashData(derivedKey, message));
    }

    /// <summary>
    /// Client side: the proof for a challenge (salt base64 and iterations as returned with the challenge);
    /// <paramref name="keySha256"/>: <see cref="KeySha256"/> of the public key to be certified, when one is sent.
    /// </summary>
    public static string Compute(string passphrase, string saltBase64, string nonce, string componentId, int iterations = DefaultIterations, string? keySha256 = null) =>
        FromDerivedKey(DeriveKey(passphrase, Convert.FromBase64String(saltBase64), iterations), nonce, componentId, keySha256);

    /// <summary>The lower-case hex SHA-256 of a public key's SubjectPublicKeyInfo (DER): how a registered key is named.</summary>
    public static string KeySha256(ReadOnlySpan<byte> subjectPublicKeyInfo) => Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>Constant-time comparison of two base64 proofs; false when either is not base64 of 32 bytes.</summary>
    public static bool Matches(string expectedBase64, string? actualBase64)
    {
        if (actualBase64 is null) return false;
        Span<byte> actual = stackalloc byte[DerivedKeyBytes + 4];
        if (!Convert.TryFromBase64String(actualBase64, actual, out var written) || written != DerivedKeyBytes) return false;
        var expected = Convert.FromBase64String(expectedBase64);
        return CryptographicOperations.FixedTimeEquals(expected, actual[..written]);
    }
}
