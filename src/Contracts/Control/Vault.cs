using System.Text;

namespace SiteRecovery.Contracts.Control;

/// <summary>The fixed list of regions a vault may live in.</summary>
public enum VaultRegion { WestEurope, NorthEurope, FranceCentral, GermanyWestCentral, UkSouth, EastUs, WestUs, CanadaCentral, BrazilSouth, JapanEast, SoutheastAsia, AustraliaEast }

/// <summary>Any message for a Vault entity (identity: vault name).</summary>
public interface IVaultMessage : IEntityMessage
{
    string VaultName { get; }
    string IEntityMessage.EntityId => VaultName;
}

/// <summary>Commands decided by the pure vault state.</summary>
public interface IVaultCommand : IVaultMessage;

// ---- commands / queries ----
/// <summary>
/// Name: 2–50 chars, letters/digits/hyphens, starts with a letter. The vault actor generates the signing secret
/// (RandomNumberGenerator) and decides an internal command that carries it. Repeating it with the same region is a no-op.
/// </summary>
public sealed record CreateVault(string VaultName, VaultRegion Region) : IVaultMessage;

/// <summary>Issues a signed registration key valid 5 days from <paramref name="NowUnixMs"/>; reply <see cref="IssuedRegistrationKey"/>.</summary>
public sealed record IssueRegistrationKey(string VaultName, long NowUnixMs) : IVaultCommand;

/// <summary>Revokes a key issued earlier; revoking twice is a no-op.</summary>
public sealed record RevokeRegistrationKey(string VaultName, long KeyId) : IVaultCommand;

public sealed record GetVault(string VaultName) : IVaultMessage;

/// <summary>Asks the vault to verify a key (used by the configuration server); reply <see cref="RegistrationKeyVerdict"/>.</summary>
public sealed record VerifyRegistrationKey(string VaultName, string Key, long NowUnixMs) : IVaultMessage
{
    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"VaultName = {VaultName}, Key = {Redact.Marker}, NowUnixMs = {NowUnixMs}");
        return true;
    }
}

// ---- replies ----
/// <summary>The key is shown here once; ToString redacts it.</summary>
public sealed record IssuedRegistrationKey(string VaultName, long KeyId, long IssuedAtUnixMs, long ExpiresAtUnixMs, string Key) : RegistrationReply
{
    protected override bool PrintMembers(StringBuilder b)
    {
        b.Append($"VaultName = {VaultName}, KeyId = {KeyId}, IssuedAtUnixMs = {IssuedAtUnixMs}, ExpiresAtUnixMs = {ExpiresAtUnixMs}, Key = {Redact.Marker}");
        return true;
    }
}

/// <summary>Outcome of a key verification: <see cref="Refusal"/> is null when the key is valid.</summary>
public sealed record RegistrationKeyVerdict(string VaultName, long KeyId, RegistrationReply.Refused? Refusal)
{
    public bool IsValid => Refusal is null;
}

/// <summary>What a vault shows; never its secret.</summary>
public sealed record VaultView(string VaultName, bool Created, VaultRegion? Region, long KeysIssued, IReadOnlyList<long> RevokedKeyIds);

/// <summary>Query of the vault directory (singleton); reply <see cref="VaultList"/>.</summary>
public sealed record ListVaults
{
    public static ListVaults Instance { get; } = new();
}

public sealed record VaultList(IReadOnlyList<string> VaultNames);

// ---- events ----
/// <summary>Marker of every registration-area event (tagged by RegistrationTags).</summary>
public interface IRegistrationEvent : IControlEvent;

public interface IVaultEvent : IRegistrationEvent
{
    string VaultName { get; }
}

/// <summary>
/// Carries the vault's HMAC signing secret (base64) so that the vault can verify its keys after recovery. It is sealed
/// on its way into the journal with the node's journal key (<see cref="JournalSeal"/>), which is kept outside it.
/// </summary>
[Manifest("vault-created.v1")]
public sealed record VaultCreated(string VaultName, VaultRegion Region,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(SealedStringJsonConverter))] string SigningSecretBase64) : IVaultEvent
{
    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"VaultName = {VaultName}, Region = {Region}, SigningSecretBase64 = {Redact.Marker}");
        return true;
    }
}

[Manifest("vault-registration-key-issued.v1")]
public sealed record RegistrationKeyIssued(string VaultName, long KeyId, long IssuedAtUnixMs, long ExpiresAtUnixMs) : IVaultEvent;

[Manifest("vault-registration-key-revoked.v1")]
public sealed record RegistrationKeyRevoked(string VaultName, long KeyId) : IVaultEvent;

/// <summary>Event of the singleton vault directory.</summary>
[Manifest("vault-directory-vault-listed.v1")]
public sealed record VaultListed(string VaultName, VaultRegion Region) : IRegistrationEvent;
