using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node.Access;

/// <summary>One API token as stored: never its secret, only the secret's SHA-256.</summary>
public sealed record ApiToken(string Id, string Name, ApiRole Role, string Sha256, long CreatedUnixMs, long? ExpiresUnixMs, long? RevokedUnixMs)
{
    public bool Revoked => RevokedUnixMs is not null;
    public bool ExpiredAt(long nowUnixMs) => ExpiresUnixMs is { } e && nowUnixMs >= e;
}

/// <summary>Why a presented token did not authenticate; the audit names it, the caller is told only that it failed.</summary>
public enum TokenRefusal { Malformed, Unknown, WrongSecret, Expired, Revoked }

/// <summary>What a revoke did: revoked (now or before), no such token, or refused because it is the last live admin token.</summary>
public enum RevokeOutcome { Revoked, Unknown, LastAdmin }

/// <summary>
/// This node's API tokens, kept in <c>keys/api-tokens.json</c> (0600 in a 0700 folder) under the data directory. A token
/// is <c>srt_ID.SECRET</c>: the id (48 random bits, hex) finds its entry and is what audits and lists show; the secret
/// (256 random bits) is shown once, when it is made, and only its SHA-256 is kept. A slow password hash would add nothing:
/// the secret is random, not chosen by a person, so nothing guessable sits behind the hash.
/// Every change is written whole to a new file, flushed and renamed over the old one, so a crash leaves the old list or
/// the new one. Tokens made with <see cref="CreateEphemeral"/> (the node's calls to its own API) live in memory only.
/// </summary>
public sealed class ApiTokenStore
{
    public const string Prefix = "srt_";
    const int IdBytes = 6;
    const int SecretBytes = 32;
    const int MaxNameLength = 64;

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    readonly string _path;
    readonly Func<long> _now;
    readonly object _write = new();
    volatile IReadOnlyDictionary<string, ApiToken> _stored;
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, ApiToken> _ephemeral = new();

    sealed record StoredFile(List<ApiToken> Tokens);

    public ApiTokenStore(string keysDirectory, Func<long>? now = null)
    {
        PrivateFiles.CreateDirectory(keysDirectory);
        _path = Path.Combine(keysDirectory, "api-tokens.json");
        _now = now ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _stored = Load(_path);
    }

    public string FilePath => _path;

    static IReadOnlyDictionary<string, ApiToken> Load(string path)
    {
        if (!File.Exists(path)) return new Dictionary<string, ApiToken>();
        try
        {
            var file = JsonSerializer.Deserialize<StoredFile>(File.ReadAllText(path), Json) ?? throw new InvalidDataException("empty");
            return file.Tokens.ToDictionary(t => t.Id, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException)
        {
            throw new InvalidOperationException($"API token store '{path}' cannot be read: {e.Message}");
        }
    }

    public IReadOnlyList<ApiToken> List() => _stored.Values.OrderBy(t => t.CreatedUnixMs).ThenBy(t => t.Id, StringComparer.Ordinal).ToList();

    public bool HasActiveAdmin() => _stored.Values.Any(t => t.Role == ApiRole.Admin && !t.Revoked && !t.ExpiredAt(_now()));

    /// <summary>Makes a stored token; returns it and its one-time text. Throws <see cref="ArgumentException"/> naming a bad field.</summary>
    public (ApiToken Token, string Text) Create(string? name, ApiRole role, TimeSpan? lifetime)
    {
        var checkedName = CheckName(name);
        if (lifetime is { } l && l <= TimeSpan.Zero) throw new ArgumentException($"expiry: {l} must be in the future");
        lock (_write)
        {
            if (_stored.Values.Any(t => !t.Revoked && t.Name == checkedName))
                throw new ArgumentException($"name: a token named '{checkedName}' exists; revoke it first or choose another name");
            var (token, text) = Make(checkedName, role, lifetime);
            Save(new Dictionary<string, ApiToken>(_stored) { [token.Id] = token });
            return (token, text);
        }
    }

    /// <summary>A token this process holds in memory only, for calls a node makes to its own API (a scheduled drill).</summary>
    public string CreateEphemeral(string name, ApiRole role)
    {
        var (token, text) = Make(name, role, null);
        _ephemeral[token.Id] = token;
        return text;
    }

    /// <summary>
    /// Revokes <paramref name="id"/>. Revoking twice changes nothing. The last live admin token is kept (unless
    /// <paramref name="evenLastAdmin"/>): the check and the write happen under one lock, so two revokes racing cannot
    /// leave a node nobody may administer.
    /// </summary>
    public RevokeOutcome Revoke(string id, bool evenLastAdmin = false)
    {
        lock (_write)
        {
            if (!_stored.TryGetValue(id, out var token)) return RevokeOutcome.Unknown;
            if (token.Revoked) return RevokeOutcome.Revoked;
            var now = _now();
            if (!evenLastAdmin && token.Role == ApiRole.Admin && !token.ExpiredAt(now)
                && !_stored.Values.Any(t => t.Id != id && t.Role == ApiRole.Admin && !t.Revoked && !t.ExpiredAt(now)))
                return RevokeOutcome.LastAdmin;
            Save(new Dictionary<string, ApiToken>(_stored) { [id] = token with { RevokedUnixMs = now } });
            return RevokeOutcome.Revoked;
        }
    }

    /// <summary>The token <paramref name="presented"/> names when its secret matches and it is live; otherwise why not.</summary>
    public (ApiToken? Token, TokenRefusal? Refusal) Verify(string presented)
    {
        if (!TryParse(presented, out var id, out var secret)) return (null, TokenRefusal.Malformed);
        if (!_stored.TryGetValue(id, out var token) && !_ephemeral.TryGetValue(id, out token)) return (null, TokenRefusal.Unknown);
        var expected = Convert.FromHexString(token.Sha256);
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.ASCII.GetBytes(secret)), expected)) return (null, TokenRefusal.WrongSecret);
        if (token.Revoked) return (null, TokenRefusal.Revoked);
        if (token.ExpiredAt(_now())) return (null, TokenRefusal.Expired);
        return (token, null);
    }

    static bool TryParse(string presented, out string id, out string secret)
    {
        id = secret = "";
        if (!presented.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var dot = presented.IndexOf('.', Prefix.Length);
        if (dot != Prefix.Length + IdBytes * 2) return false;
        id = presented[Prefix.Length..dot];
        secret = presented[(dot + 1)..];
        return id.All(Uri.IsHexDigit) && secret.Length is > 0 and <= 64;
    }

    (ApiToken, string) Make(string name, ApiRole role, TimeSpan? lifetime)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdBytes));
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(SecretBytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = _now();
        var token = new ApiToken(id, name, role, Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(secret))), now,
            lifetime is { } l ? now + (long)l.TotalMilliseconds : null, null);
        return (token, $"{Prefix}{id}.{secret}");
    }

    static string CheckName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("name: required (who or what will use the token)");
        if (name.Length > MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@' or ':'))
            throw new ArgumentException($"name: '{name}' must be 1..{MaxNameLength} letters, digits or - _ . @ :");
        return name;
    }

    void Save(Dictionary<string, ApiToken> tokens)
    {
        PrivateFiles.WriteAtomically(_path, JsonSerializer.SerializeToUtf8Bytes(new StoredFile(tokens.Values.OrderBy(t => t.CreatedUnixMs).ToList()), Json));
        _stored = tokens;
    }

    /// <summary>
    /// On a node's first start (no live admin token stored), makes one and writes it to <paramref name="path"/> (0600, never
    /// over an existing file) so the operator can read it once and keep it; null when none was needed.
    /// </summary>
    public string? BootstrapAdmin(string path)
    {
        if (HasActiveAdmin()) return null;
        var (token, text) = Create($"bootstrap-admin-{_now()}", ApiRole.Admin, null);
        try
        {
            PrivateFiles.WriteAtomically(path, Encoding.ASCII.GetBytes(text + "\n"));
        }
        catch (Exception) { Revoke(token.Id, evenLastAdmin: true); throw; }
        return token.Id;
    }
}
