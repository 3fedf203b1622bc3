using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SiteRecovery.Contracts.Control;

/// <summary>
/// Seals the secrets an event or snapshot must carry (a vault's signing secret) before they reach the journal: AES-256-GCM
/// under the node's journal key, which lives outside the journal (<c>&lt;data&gt;/keys/journal.key</c>, 0600), so a copy
/// of the journal database alone, or a backup of it, does not give the secret away. Sealed text is
/// <c>sealed:v1:</c> + base64(nonce ‖ ciphertext ‖ tag); anything else read back is a secret written before sealing
/// existed and is taken as it is. Sealing is deterministic (see <see cref="Seal(string, byte[])"/>): it shows when two
/// sealed secrets are equal, which for random signing secrets tells nothing.
/// <para>
/// The key is process-wide, as the serializer's options are. A process that never configures one (a test's actor
/// system) seals with a random key that dies with it: what it journals can be read back only by the same process.
/// </para>
/// </summary>
public static class JournalSeal
{
    public const string Prefix = "sealed:v1:";
    const int NonceBytes = 12;
    const int TagBytes = 16;
    public const int KeyBytes = 32;
    static readonly byte[] Label = Encoding.ASCII.GetBytes("siterecovery journal seal v1");

    static byte[] _key = RandomNumberGenerator.GetBytes(KeyBytes);

    /// <summary>Whether the key is a configured one (false: the per-process random key).</summary>
    public static bool Configured { get; private set; }

    public static void Configure(byte[] key)
    {
        if (key.Length != KeyBytes) throw new ArgumentException($"the journal key must be {KeyBytes} bytes, not {key.Length}");
        _key = key.ToArray();
        Configured = true;
    }

    public static string Seal(string plain) => Seal(plain, _key);

    /// <summary>The plain secret; throws <see cref="CryptographicException"/> naming the key when it does not open.</summary>
    public static string Open(string text) => Open(text, _key, Configured);

    public static string Seal(string plain, byte[] key)
    {
        var data = Encoding.UTF8.GetBytes(plain);
        var sealedBytes = new byte[NonceBytes + data.Length + TagBytes];
        // The nonce is derived from the key and the secret (a synthetic IV): one secret always seals to the same text, so a
        // state serialized twice is byte-equal, and two different secrets would need an HMAC collision to share a nonce.
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        HMACSHA256.HashData(key, Label.Concat(data).ToArray()).AsSpan(0, NonceBytes).CopyTo(nonce);
        using var aes = new AesGcm(key, TagBytes);
        aes.Encrypt(nonce, data, sealedBytes.AsSpan(NonceBytes, data.Length), sealedBytes.AsSpan(NonceBytes + data.Length), Label);
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    public static string Open(string text, byte[] key, bool configured = true)
    {
        if (!text.StartsWith(Prefix, StringComparison.Ordinal)) return text;
        byte[] sealedBytes;
        try { sealedBytes = Convert.FromBase64String(text[Prefix.Length..]); }
        catch (FormatException) { throw new CryptographicException("a sealed secret in the journal is not base64"); }
        if (sealedBytes.Length < NonceBytes + TagBytes) throw new CryptographicException("a sealed secret in the journal is too short");
        var length = sealedBytes.Length - NonceBytes - TagBytes;
        var plain = new byte[length];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, length), sealedBytes.AsSpan(NonceBytes + length), plain, Label);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new CryptographicException(configured
                ? "a sealed secret in the journal does not open with this node's journal key (keys/journal.key): the journal was written with another key"
                : "a sealed secret in the journal does not open: this process has no journal key configured");
        }
        return Encoding.UTF8.GetString(plain);
    }
}

/// <summary>Puts a string property through <see cref="JournalSeal"/> on its way to and from JSON.</summary>
public sealed class SealedStringJsonConverter : JsonConverter<string?>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        var text = reader.GetString()!;
        try { return JournalSeal.Open(text); }
        catch (CryptographicException e) { throw new JsonException(e.Message, e); }
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null) writer.WriteNullValue();
        else writer.WriteStringValue(JournalSeal.Seal(value));
    }
}
