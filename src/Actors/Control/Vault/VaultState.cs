using System.Collections.Immutable;
using System.Text;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.Vault;

/// <summary>
/// <see cref="CreateVault"/> after the vault actor generated the signing secret (RandomNumberGenerator); this is what
/// the pure state decides. Not for clients. ToString redacts the secret.
/// </summary>
public sealed record CreateVaultWithSecret(string VaultName, VaultRegion Region, string SigningSecretBase64) : IVaultCommand
{
    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"VaultName = {VaultName}, Region = {Region}, SigningSecretBase64 = {Redact.Marker}");
        return true;
    }
}

/// <summary>
/// Immutable state of one vault with pure <see cref="Decide"/>, <see cref="Apply"/> and <see cref="ValidateRegistrationKey"/>.
/// The HMAC signing secret is part of this persisted state (event <see cref="VaultCreated"/> and snapshots) so that keys
/// verify after recovery; both carry it sealed with the node's journal key (<see cref="JournalSeal"/>), never in clear.
/// </summary>
[Manifest("vault-state.v1")]
public sealed record VaultState(
    string VaultName,
    bool Created,
    VaultRegion? Region,
    [property: System.Text.Json.Serialization.JsonConverter(typeof(SealedStringJsonConverter))] string? SigningSecretBase64,
    long KeysIssued,
    ImmutableSortedSet<long> RevokedKeyIds)
    : IControlSnapshot, IRegistrationState<VaultState, IVaultCommand, IVaultEvent>
{
    public static VaultState Empty(string vaultName) => new(vaultName, false, null, null, 0, ImmutableSortedSet<long>.Empty);

    public RegistrationDecision<IVaultEvent> Decide(IVaultCommand command)
    {
        if (!Created && command is not CreateVaultWithSecret)
            return Refuse(RegistrationRefusal.NotFound,
                $"{command.GetType().Name}.VaultName '{command.VaultName}' is not an existing vault; send CreateVault first");

        return command switch
        {
            CreateVaultWithSecret c => DecideCreate(c),
            IssueRegistrationKey c => DecideIssue(c),
            RevokeRegistrationKey c => DecideRevoke(c),
            _ => Refuse(RegistrationRefusal.InvalidArgument, $"Command type {command.GetType().Name} is not handled by Vault"),
        };
    }

    private RegistrationDecision<IVaultEvent> DecideCreate(CreateVaultWithSecret c)
    {
        const string cmd = nameof(CreateVault);
        if (RegistrationRules.VaultName(cmd, nameof(c.VaultName), c.VaultName) is { } bad) return Refuse(bad);
        if (RegistrationRules.Defined(cmd, nameof(c.Region), c.Region) is { } badRegion) return Refuse(badRegion);
        if (!IsSecret(c.SigningSecretBase64))
            return Refuse(RegistrationRefusal.InvalidArgument, $"{cmd}.SigningSecretBase64 must be base64 of {Secrets.VaultSecretBytes} bytes");

        if (Created)
        {
            return Region == c.Region
                ? RegistrationDecision<IVaultEvent>.NoOp
                : Refuse(RegistrationRefusal.AlreadyExists, $"{cmd}.VaultName '{c.VaultName}' already exists in region {Region}, not {c.Region}");
        }

        return RegistrationDecision<IVaultEvent>.Accept(new VaultCreated(c.VaultName, c.Region, c.SigningSecretBase64));
    }

    private RegistrationDecision<IVaultEvent> DecideIssue(IssueRegistrationKey c)
    {
        if (RegistrationRules.NonNegative(nameof(IssueRegistrationKey), nameof(c.NowUnixMs), c.NowUnixMs) is { } bad) return Refuse(bad);
        if (c.NowUnixMs > long.MaxValue - RegistrationKeys.ValidityMs)
            return Refuse(RegistrationRefusal.InvalidArgument, $"{nameof(IssueRegistrationKey)}.NowUnixMs is too large (was {c.NowUnixMs})");
        return RegistrationDecision<IVaultEvent>.Accept(
            new RegistrationKeyIssued(VaultName, KeysIssued + 1, c.NowUnixMs, c.NowUnixMs + RegistrationKeys.ValidityMs));
    }

    private RegistrationDecision<IVaultEvent> DecideRevoke(RevokeRegistrationKey c)
    {
        if (c.KeyId < 1 || c.KeyId > KeysIssued)
            return Refuse(RegistrationRefusal.InvalidArgument,
                $"{nameof(RevokeRegistrationKey)}.KeyId must be an issued key id 1..{KeysIssued} (was {c.KeyId})");
        return RevokedKeyIds.Contains(c.KeyId)
            ? RegistrationDecision<IVaultEvent>.NoOp
            : RegistrationDecision<IVaultEvent>.Accept(new RegistrationKeyRevoked(VaultName, c.KeyId));
    }

    public VaultState Apply(IVaultEvent @event) => @event switch
    {
        VaultCreated e => this with { Created = true, Region = e.Region, SigningSecretBase64 = e.SigningSecretBase64 },
        RegistrationKeyIssued e => this with { KeysIssued = Math.Max(KeysIssued, e.KeyId) },
        RegistrationKeyRevoked e => this with { RevokedKeyIds = RevokedKeyIds.Add(e.KeyId) },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown Vault event"),
    };

    public RegistrationReply Reply(IVaultCommand command, int eventCount) => command switch
    {
        IssueRegistrationKey c => new IssuedRegistrationKey(
            VaultName, KeysIssued, c.NowUnixMs, c.NowUnixMs + RegistrationKeys.ValidityMs,
            RegistrationKeys.Sign(VaultName, KeysIssued, c.NowUnixMs, c.NowUnixMs + RegistrationKeys.ValidityMs, SigningSecretBase64!)),
        _ => new RegistrationReply.Accepted(eventCount),
    };

    /// <summary>
    /// Pure key check used (through the vault actor) by the configuration server: null = valid. Refusals: KeyMalformed,
    /// KeyForeignVault (other vault, or this vault does not exist), KeyTampered, KeyRevoked, KeyExpired (after 5 days).
    /// </summary>
    public RegistrationReply.Refused? ValidateRegistrationKey(string? key, long nowUnixMs)
    {
        if (!Created)
        {
            var named = RegistrationKeys.TryParse(key, out var problem);
            return named is null
                ? new(RegistrationRefusal.KeyMalformed, $"RegistrationKey is malformed: {problem}")
                : new(RegistrationRefusal.KeyForeignVault, $"RegistrationKey names vault '{named.VaultName}', which does not exist");
        }

        return RegistrationKeys.Validate(key, nowUnixMs, VaultName, SigningSecretBase64!, KeysIssued, RevokedKeyIds, out _);
    }

    public VaultView ToView() => new(VaultName, Created, Region, KeysIssued, RevokedKeyIds.ToList());

    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"VaultName = {VaultName}, Created = {Created}, Region = {Region}, SigningSecretBase64 = {Redact.Marker}, KeysIssued = {KeysIssued}, RevokedKeyIds = [{string.Join(", ", RevokedKeyIds)}]");
        return true;
    }

    private static bool IsSecret(string? s)
    {
        if (s is null) return false;
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(s, buffer, out var n) && n == Secrets.VaultSecretBytes;
    }

    private static RegistrationDecision<IVaultEvent> Refuse(RegistrationRefusal reason, string message) =>
        RegistrationDecision<IVaultEvent>.Refuse(reason, message);

    private static RegistrationDecision<IVaultEvent> Refuse(RegistrationReply.Refused refusal) =>
        RegistrationDecision<IVaultEvent>.Refuse(refusal);
}
