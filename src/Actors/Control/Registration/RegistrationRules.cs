using System.Security.Cryptography;
using System.Text.RegularExpressions;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Registration;

/// <summary>Field rules of the registration area; every message names command, field and rule.</summary>
public static partial class RegistrationRules
{
    public const int VaultNameMin = 2;
    public const int VaultNameMax = 50;
    public const int IdMax = 64;
    public const int EndpointsMax = 8;
    public const int HostMax = 253;

    public const string VaultNameRule = "2-50 chars, letters/digits/hyphens, starting with a letter";
    public const string IdRule = "1-64 chars, letters/digits/'.'/'_'/'-', starting with a letter or digit";
    public const string EndpointRule = "host:port with host 1-253 chars of letters/digits/'.'/'-' and port 1-65535";

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9-]{1,49}$")]
    private static partial Regex VaultNamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[A-Za-z0-9.-]{1,253}$")]
    private static partial Regex HostPattern();

    public static bool IsVaultName(string? name) => name is not null && VaultNamePattern().IsMatch(name);

    public static bool IsId(string? id) => id is not null && IdPattern().IsMatch(id);

    public static bool IsEndpoint(string? endpoint)
    {
        if (endpoint is null) return false;
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0) return false;
        var port = endpoint[(colon + 1)..];
        return HostPattern().IsMatch(endpoint[..colon])
               && port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit)
               && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 65535;
    }

    public static RegistrationReply.Refused Invalid(string message) => new(RegistrationRefusal.InvalidArgument, message);

    public static RegistrationReply.Refused? VaultName(string command, string field, string? value) =>
        IsVaultName(value) ? null : Invalid($"{command}.{field} must be {VaultNameRule} (was '{value}', {value?.Length ?? 0} chars)");

    public static RegistrationReply.Refused? Id(string command, string field, string? value) =>
        IsId(value) ? null : Invalid($"{command}.{field} must be {IdRule} (was '{value}', {value?.Length ?? 0} chars)");

    public static RegistrationReply.Refused? Defined<TEnum>(string command, string field, TEnum value) where TEnum : struct, Enum =>
        Enum.IsDefined(value) ? null : Invalid($"{command}.{field} must be one of {string.Join(", ", Enum.GetNames<TEnum>())} (was {value})");

    public static RegistrationReply.Refused? NonNegative(string command, string field, long value) =>
        value >= 0 ? null : Invalid($"{command}.{field} must be >= 0 (was {value})");

    public static RegistrationReply.Refused? Endpoints(string command, IReadOnlyList<string>? endpoints)
    {
        if (endpoints is null || endpoints.Count is 0 or > EndpointsMax)
            return Invalid($"{command}.Endpoints must hold 1-{EndpointsMax} entries (was {endpoints?.Count ?? 0})");
        for (var i = 0; i < endpoints.Count; i++)
        {
            if (!IsEndpoint(endpoints[i]))
                return Invalid($"{command}.Endpoints[{i}] must be {EndpointRule} (was '{endpoints[i]}')");
        }

        return endpoints.Distinct(StringComparer.OrdinalIgnoreCase).Count() == endpoints.Count
            ? null
            : Invalid($"{command}.Endpoints must not repeat an endpoint");
    }
}

/// <summary>The only source of randomness of the registration area (used by the actors, never by Decide).</summary>
public static class Secrets
{
    public const int VaultSecretBytes = 32;
    public const int PassphraseLength = 24;
    public const int NonceBytes = 24;

    private const string PassphraseAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

    public static string NewVaultSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(VaultSecretBytes));

    /// <summary>24 chars from a 56-symbol alphabet (~139 bits).</summary>
    public static string NewPassphraseText() => RandomNumberGenerator.GetString(PassphraseAlphabet, PassphraseLength);

    public static string NewNonce() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(NonceBytes));

    /// <summary>A fresh passphrase and its salted PBKDF2-SHA256 hash (the plaintext goes only into the reply).</summary>
    public static NewPassphrase NewPassphraseWithHash(int iterations = PassphraseProof.DefaultIterations)
    {
        var passphrase = NewPassphraseText();
        return NewPassphrase.From(passphrase, RandomNumberGenerator.GetBytes(PassphraseProof.SaltBytes), iterations);
    }
}

/// <summary>A passphrase to hand out once (<see cref="Plaintext"/>) and the hash to store (<see cref="Hash"/>).</summary>
public sealed record NewPassphrase(string Plaintext, PassphraseHash Hash)
{
    public static NewPassphrase From(string passphrase, byte[] salt, int iterations = PassphraseProof.DefaultIterations) =>
        new(passphrase, new PassphraseHash(
            Convert.ToBase64String(salt), iterations, Convert.ToBase64String(PassphraseProof.DeriveKey(passphrase, salt, iterations))));

    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append($"Plaintext = {Redact.Marker}, Hash = {Hash}");
        return true;
    }
}
