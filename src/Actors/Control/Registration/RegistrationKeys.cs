using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Registration;

/// <summary>The fields of a registration key as written in it (before its signature is checked).</summary>
public sealed record RegistrationKeyFields(string VaultName, long KeyId, long IssuedAtUnixMs, long ExpiresAtUnixMs, string Signature);

/// <summary>
/// Registration keys: <c>srk1.{vault}.{keyId}.{issuedAtUnixMs}.{expiresAtUnixMs}.{signature}</c> where signature is the
/// base64url HMAC-SHA256, keyed with the vault's secret, over <c>srk1\n{vault}\n{keyId}\n{issued}\n{expires}</c>.
/// Pure functions: the clock and the vault secret are parameters.
/// </summary>
public static class RegistrationKeys
{
    public const string Prefix = "srk1";
    public static readonly long ValidityMs = (long)TimeSpan.FromDays(5).TotalMilliseconds;
    private const int SignatureChars = 43; // base64url of 32 bytes, no padding

    public static string Sign(string vaultName, long keyId, long issuedAtUnixMs, long expiresAtUnixMs, string secretBase64)
    {
        var mac = HMACSHA256.HashData(Convert.FromBase64String(secretBase64), Payload(vaultName, keyId, issuedAtUnixMs, expiresAtUnixMs));
        return $"{Prefix}.{vaultName}.{Number(keyId)}.{Number(issuedAtUnixMs)}.{Number(expiresAtUnixMs)}.{Base64Url(mac)}";
    }

    /// <summary>Splits a key into its fields; null when it is malformed (the reason explains why).</summary>
    public static RegistrationKeyFields? TryParse(string? key, out string problem)
    {
        problem = "";
        if (string.IsNullOrEmpty(key) || key.Length > 200)
        {
            problem = "must be a non-empty string of at most 200 chars";
            return null;
        }

        var parts = key.Split('.');
        if (parts.Length != 6 || parts[0] != Prefix)
        {
            problem = $"must have the form {Prefix}.vault.keyId.issuedAt.expiresAt.signature";
            return null;
        }

        if (!RegistrationRules.IsVaultName(parts[1]))
        {
            problem = $"vault field must be {RegistrationRules.VaultNameRule}";
            return null;
        }

        if (!TryNumber(parts[2], out var keyId) || keyId < 1 || !TryNumber(parts[3], out var issued) || !TryNumber(parts[4], out var expires))
        {
            problem = "keyId, issuedAt and expiresAt must be canonical non-negative integers (keyId >= 1)";
            return null;
        }

        if (parts[5].Length != SignatureChars || !parts[5].All(IsBase64UrlChar))
        {
            problem = $"signature must be {SignatureChars} base64url chars";
            return null;
        }

        return new RegistrationKeyFields(parts[1], keyId, issued, expires, parts[5]);
    }

    /// <summary>
    /// Checks a key against one vault: malformed → foreign vault → signature (tampered) → revoked/never issued → expired.
    /// The vault name is compared before the signature: a key naming another vault cannot be checked with this vault's
    /// secret, so it is foreign. Returns null when the key is valid at <paramref name="nowUnixMs"/> (inclusive end).
    /// </summary>
    public static RegistrationReply.Refused? Validate(
        string? key, long nowUnixMs, string vaultName, string secretBase64, long keysIssued, IReadOnlySet<long> revoked,
        out RegistrationKeyFields? fields)
    {
        fields = TryParse(key, out var problem);
        if (fields is null)
            return new(RegistrationRefusal.KeyMalformed, $"RegistrationKey is malformed: {problem}");

        if (!string.Equals(fields.VaultName, vaultName, StringComparison.Ordinal))
            return new(RegistrationRefusal.KeyForeignVault,
                $"RegistrationKey was issued by vault '{fields.VaultName}', not by vault '{vaultName}'");

        var expected = HMACSHA256.HashData(Convert.FromBase64String(secretBase64),
            Payload(fields.VaultName, fields.KeyId, fields.IssuedAtUnixMs, fields.ExpiresAtUnixMs));
        // Compare the canonical text, not decoded bytes: base64 decoders ignore the unused low bits of the last char.
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Base64Url(expected)), Encoding.ASCII.GetBytes(fields.Signature)))
            return new(RegistrationRefusal.KeyTampered, $"RegistrationKey signature does not match its fields (vault '{vaultName}')");

        if (fields.KeyId > keysIssued || revoked.Contains(fields.KeyId))
            return new(RegistrationRefusal.KeyRevoked, $"RegistrationKey {fields.KeyId} of vault '{vaultName}' has been revoked");

        if (nowUnixMs > fields.ExpiresAtUnixMs)
            return new(RegistrationRefusal.KeyExpired,
                $"RegistrationKey {fields.KeyId} of vault '{vaultName}' expired at {fields.ExpiresAtUnixMs} (now {nowUnixMs})");

        return null;
    }

    private static byte[] Payload(string vaultName, long keyId, long issued, long expires) =>
        Encoding.UTF8.GetBytes($"{Prefix}\n{vaultName}\n{Number(keyId)}\n{Number(issued)}\n{Number(expires)}");

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static bool TryNumber(string s, out long value)
    {
        value = 0;
        // Canonical only (no sign, no leading zeros) so that one number has exactly one spelling.
        if (s.Length is 0 or > 19 || !s.All(char.IsAsciiDigit) || (s.Length > 1 && s[0] == '0')) return false;
        return long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static bool IsBase64UrlChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_';

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
