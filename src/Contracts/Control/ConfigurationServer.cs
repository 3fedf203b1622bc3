using System.Text;

namespace SiteRecovery.Contracts.Control;

public enum Connectivity { Internet, Vpn }

/// <summary>Any message for a ConfigurationServer entity (identity: server id).</summary>
public interface IConfigurationServerMessage : IEntityMessage
{
    string ConfigServerId { get; }
    string IEntityMessage.EntityId => ConfigServerId;
}

/// <summary>Commands decided by the pure configuration-server state.</summary>
public interface IConfigurationServerCommand : IConfigurationServerMessage;

// ---- commands / queries ----
/// <summary>
/// Registers the configuration server with the vault named in <paramref name="RegistrationKey"/>. The actor asks that
/// vault to verify the key, generates a passphrase, and replies <see cref="ConfigurationServerRegistered"/> (passphrase
/// shown once). Endpoints: 1–8 <c>host:port</c>. The key is redacted from ToString.
/// </summary>
public sealed record RegisterConfigurationServer(
    string ServerId, string RegistrationKey, Connectivity Connectivity, IReadOnlyList<string> Endpoints, long NowUnixMs)
    : IConfigurationServerMessage
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;

    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"ServerId = {ServerId}, RegistrationKey = {Redact.Marker}, Connectivity = {Connectivity}, Endpoints = [{string.Join(", ", Endpoints ?? [])}], NowUnixMs = {NowUnixMs}");
        return true;
    }
}

/// <summary>New passphrase (old one stops working); every registered component is flagged for re-registration.</summary>
public sealed record RegeneratePassphrase(string ServerId, long NowUnixMs) : IConfigurationServerMessage
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;
}

/// <summary>Changes the connectivity settings; same values = no-op.</summary>
public sealed record ChangeConnectivity(string ServerId, Connectivity Connectivity, IReadOnlyList<string> Endpoints) : IConfigurationServerCommand
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;

    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"ServerId = {ServerId}, Connectivity = {Connectivity}, Endpoints = [{string.Join(", ", Endpoints ?? [])}]");
        return true;
    }
}

/// <summary>Step 1 of component registration: reply <see cref="RegistrationChallenge"/> with a single-use nonce.</summary>
public sealed record BeginRegistration(string ConfigServerId, string ComponentId, ComponentKind Kind, long NowUnixMs) : IConfigurationServerMessage;

/// <summary>
/// Step 2: <paramref name="Proof"/> = <see cref="PassphraseProof.Compute"/>(passphrase, salt, nonce, componentId), base64.
/// Reply <see cref="ComponentRegistrationCompleted"/> or a refusal (WrongPassphrase, NonceReplayed, NonceExpired, NonceUnknown).
/// <paramref name="PublicKey"/>: the component's public key (SubjectPublicKeyInfo, DER, base64) to be certified by the
/// site's authority; the proof then covers its <see cref="PassphraseProof.KeySha256"/>. Null: no certificate (older components).
/// <paramref name="Certificate"/>: the certificate the authority will sign for that key, journaled with the registration.
/// <paramref name="Versions"/>: the version the component reported and its configuration server's (null: a component
/// from before versions were reported, taken as it is).
/// </summary>
public sealed record CompleteRegistration(string ConfigServerId, string ComponentId, string Nonce, string Proof, long NowUnixMs, string? PublicKey = null,
    CertificatePlan? Certificate = null, ReportedVersions? Versions = null) : IConfigurationServerCommand
{
    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"ConfigServerId = {ConfigServerId}, ComponentId = {ComponentId}, Nonce = {Nonce}, Proof = {Redact.Marker}, NowUnixMs = {NowUnixMs}, PublicKey = {(PublicKey is null ? "none" : "given")}, Certificate = {Certificate?.SerialHex ?? "none"}, Versions = {Versions}");
        return true;
    }
}

/// <summary>What a component said its version is (<see cref="ProductVersion"/>), beside the version of the configuration server it said it to.</summary>
public sealed record ReportedVersions(string Component, string ConfigurationServer);

public sealed record GetConfigurationServer(string ServerId) : IConfigurationServerMessage
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;
}

// ---- replies ----
/// <summary>The passphrase is shown here once and never stored; ToString redacts it.</summary>
public sealed record ConfigurationServerRegistered(string ServerId, string VaultName, long KeyId, string Passphrase) : RegistrationReply
{
    protected override bool PrintMembers(StringBuilder b)
    {
        b.Append($"ServerId = {ServerId}, VaultName = {VaultName}, KeyId = {KeyId}, Passphrase = {Redact.Marker}");
        return true;
    }
}

/// <summary>The new passphrase (shown once; ToString redacts it) and how many components must re-register.</summary>
public sealed record PassphraseRegenerated(string ServerId, int Generation, int ComponentsFlagged, string Passphrase) : RegistrationReply
{
    protected override bool PrintMembers(StringBuilder b)
    {
        b.Append($"ServerId = {ServerId}, Generation = {Generation}, ComponentsFlagged = {ComponentsFlagged}, Passphrase = {Redact.Marker}");
        return true;
    }
}

/// <summary>Nonce (single use, until <paramref name="ExpiresAtUnixMs"/>) plus the PBKDF2 salt and iterations to derive the HMAC key.</summary>
public sealed record RegistrationChallenge(
    string ConfigServerId, string ComponentId, ComponentKind Kind, string Nonce, string SaltBase64, int Iterations, long ExpiresAtUnixMs)
    : RegistrationReply;

/// <summary>The registration is recorded; <paramref name="KeySha256"/>: the public key it vouched for (the site's authority certifies it), or null.</summary>
public sealed record ComponentRegistrationCompleted(string ConfigServerId, string ComponentId, ComponentKind Kind, long RegisteredAtUnixMs, string? KeySha256 = null)
    : RegistrationReply;

/// <summary>
/// A registered component; <paramref name="KeySha256"/>: the key its last registration vouched for (null: registered without
/// one); <paramref name="Version"/>: the version it last reported (null: never reported).
/// </summary>
public sealed record RegisteredComponentView(string ComponentId, ComponentKind Kind, long RegisteredAtUnixMs, bool NeedsReregistration, string? KeySha256 = null,
    string? Version = null);

/// <summary>What a configuration server shows; never its passphrase hash. <paramref name="Version"/>: the product version of the node that answers.</summary>
public sealed record ConfigurationServerView(
    string ServerId,
    bool Registered,
    string? VaultName,
    long KeyId,
    Connectivity? Connectivity,
    IReadOnlyList<string> Endpoints,
    int PassphraseGeneration,
    long RegisteredAtUnixMs,
    IReadOnlyList<RegisteredComponentView> Components,
    string? Version = null);

// ---- events ----
public interface IConfigurationServerEvent : IRegistrationEvent
{
    string ServerId { get; }
}

/// <summary>
/// Salted PBKDF2-SHA256 hash of a passphrase (base64). The hash doubles as the challenge-response HMAC key, so whoever
/// holds it can answer a challenge as if they knew the passphrase: it is a secret, and reaches the journal sealed
/// (<see cref="JournalSeal"/>) like a vault's signing secret.
/// </summary>
public sealed record PassphraseHash(string SaltBase64, int Iterations,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(SealedStringJsonConverter))] string HashBase64)
{
    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"SaltBase64 = {SaltBase64}, Iterations = {Iterations}, HashBase64 = {Redact.Marker}");
        return true;
    }
}

[Manifest("configuration-server-registered.v1")]
public sealed record ConfigurationServerRegisteredEvent(
    string ServerId, string VaultName, long KeyId, Connectivity Connectivity, IReadOnlyList<string> Endpoints,
    long RegisteredAtUnixMs, PassphraseHash Passphrase) : IConfigurationServerEvent;

[Manifest("configuration-server-passphrase-regenerated.v1")]
public sealed record PassphraseRegeneratedEvent(string ServerId, PassphraseHash Passphrase, long AtUnixMs) : IConfigurationServerEvent;

[Manifest("configuration-server-connectivity-changed.v1")]
public sealed record ConnectivityChanged(string ServerId, Connectivity Connectivity, IReadOnlyList<string> Endpoints) : IConfigurationServerEvent;

[Manifest("configuration-server-challenge-issued.v1")]
public sealed record RegistrationChallengeIssued(
    string ServerId, string ComponentId, ComponentKind Kind, string Nonce, long IssuedAtUnixMs, long ExpiresAtUnixMs) : IConfigurationServerEvent;

/// <summary><paramref name="Version"/>: what the component reported (null in events journaled before versions were).</summary>
[Manifest("configuration-server-component-registered.v1")]
public sealed record ComponentRegistered(
    string ServerId, string ComponentId, ComponentKind Kind, string Nonce, long RegisteredAtUnixMs, string? Version = null) : IConfigurationServerEvent;

/// <summary>
/// A registration that vouched for the component's public key (its proof covered the key's hash): the site's authority
/// certifies that key, and only that one, for the component. A later registration replaces it.
/// </summary>
[Manifest("configuration-server-component-registered.v2")]
public sealed record ComponentRegisteredWithKey(
    string ServerId, string ComponentId, ComponentKind Kind, string Nonce, long RegisteredAtUnixMs, string KeySha256, string? Version = null) : IConfigurationServerEvent;

/// <summary>A registered component reported another version than the one recorded (at a certificate's renewal, after an upgrade).</summary>
[Manifest("configuration-server-component-version-reported.v1")]
public sealed record ComponentVersionReported(string ServerId, string ComponentId, string Version, long AtUnixMs) : IConfigurationServerEvent;
