using System.Collections.Immutable;
using System.Text;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ConfigurationServer;

/// <summary>
/// <see cref="RegisterConfigurationServer"/> after the actor had the vault verify the key and generated the passphrase
/// (plaintext only for the reply; the state stores <see cref="NewPassphrase.Hash"/>). Not for clients.
/// </summary>
public sealed record RegisterWithVerifiedKey(
    string ServerId, RegistrationKeyVerdict Verdict, Connectivity Connectivity, IReadOnlyList<string> Endpoints, long NowUnixMs,
    NewPassphrase Passphrase) : IConfigurationServerCommand
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;
}

/// <summary><see cref="RegeneratePassphrase"/> with the freshly generated passphrase. Not for clients.</summary>
public sealed record RegeneratePassphraseWith(string ServerId, NewPassphrase Passphrase, long NowUnixMs) : IConfigurationServerCommand
{
    string IConfigurationServerMessage.ConfigServerId => ServerId;
}

/// <summary><see cref="BeginRegistration"/> with the freshly generated nonce. Not for clients.</summary>
public sealed record BeginRegistrationWithNonce(string ConfigServerId, string ComponentId, ComponentKind Kind, string Nonce, long NowUnixMs)
    : IConfigurationServerCommand;

/// <summary>
/// A registered component; <paramref name="KeySha256"/>: the public key its last registration (or renewal) had certified,
/// or null. <paramref name="Certificates"/>: those the site's authority issued to it that have not long ended (null: none,
/// as in states journaled before certificates were recorded). <paramref name="Removed"/>: removed, its certificates
/// revoked; kept so that a later registration under the same id finds its history.
/// </summary>
public sealed record ComponentRecord(ComponentKind Kind, long RegisteredAtUnixMs, bool NeedsReregistration, string? KeySha256 = null,
    ImmutableList<IssuedCertificate>? Certificates = null, bool Removed = false, string? Version = null)
{
    public ImmutableList<IssuedCertificate> Issued => Certificates ?? ImmutableList<IssuedCertificate>.Empty;
}

/// <summary>A single-use nonce; <paramref name="Renewal"/>: issued for a certificate's renewal, not for a registration (neither completes the other).</summary>
public sealed record Challenge(string ComponentId, ComponentKind Kind, long IssuedAtUnixMs, long ExpiresAtUnixMs, bool Used, bool Renewal = false);

/// <summary>
/// Immutable state of one configuration server with pure <see cref="Decide"/>/<see cref="Apply"/>/<see cref="Reply"/>.
/// Stores only the salted PBKDF2-SHA256 hash of the passphrase. That hash is also the HMAC key of the challenge-response,
/// so it is password-equivalent for component registration and must be protected like the passphrase (journal access).
/// Challenges are persisted (single use survives restarts); used/expired ones are pruned
/// <see cref="ChallengeRetentionMs"/> after they expire. Refused attempts change nothing (no failed-attempt counter).
/// </summary>
[Manifest("configuration-server-state.v1")]
public sealed partial record ConfigurationServerState(
    string ServerId,
    bool Registered,
    string? VaultName,
    long KeyId,
    Connectivity? Connectivity,
    ImmutableList<string> Endpoints,
    long RegisteredAtUnixMs,
    PassphraseHash? Passphrase,
    int PassphraseGeneration,
    ImmutableSortedDictionary<string, ComponentRecord> Components,
    ImmutableSortedDictionary<string, Challenge> Challenges)
    : IControlSnapshot, IRegistrationState<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>
{
    public const long NonceLifetimeMs = 60_000;
    public const long ChallengeRetentionMs = 10 * 60_000;

    public static ConfigurationServerState Empty(string serverId) => new(
        serverId, false, null, 0, null, ImmutableList<string>.Empty, 0, null, 0,
        ImmutableSortedDictionary.Create<string, ComponentRecord>(StringComparer.Ordinal),
        ImmutableSortedDictionary.Create<string, Challenge>(StringComparer.Ordinal));

    /// <summary>Field rules of <see cref="RegisterConfigurationServer"/> (checked by the actor before asking the vault, and again by Decide).</summary>
    public static RegistrationReply.Refused? ValidateRegistration(string serverId, Connectivity connectivity, IReadOnlyList<string>? endpoints, long nowUnixMs)
    {
        const string cmd = nameof(RegisterConfigurationServer);
        return RegistrationRules.Id(cmd, "ServerId", serverId)
               ?? RegistrationRules.Defined(cmd, "Connectivity", connectivity)
               ?? RegistrationRules.Endpoints(cmd, endpoints)
               ?? RegistrationRules.NonNegative(cmd, "NowUnixMs", nowUnixMs);
    }

    public RegistrationDecision<IConfigurationServerEvent> Decide(IConfigurationServerCommand command)
    {
        if (!Registered && command is not RegisterWithVerifiedKey)
            return Refuse(new(RegistrationRefusal.NotFound,
                $"{Name(command)}.ConfigServerId '{command.ConfigServerId}' is not a registered configuration server; register it first"));

        return command switch
        {
            RegisterWithVerifiedKey c => DecideRegister(c),
            RegeneratePassphraseWith c => DecideRegenerate(c),
            ChangeConnectivity c => DecideConnectivity(c),
            BeginRegistrationWithNonce c => DecideBegin(c),
            CompleteRegistration c => DecideComplete(c),
            RemoveComponent c => DecideRemove(c),
            BeginRenewalWithNonce c => DecideBeginRenewal(c),
            RenewCertificate c => DecideRenew(c),
            _ => Refuse(RegistrationRules.Invalid($"Command type {command.GetType().Name} is not handled by ConfigurationServer")),
        };
    }

    private RegistrationDecision<IConfigurationServerEvent> DecideRegister(RegisterWithVerifiedKey c)
    {
        const string cmd = nameof(RegisterConfigurationServer);
        if (ValidateRegistration(c.ServerId, c.Connectivity, c.Endpoints, c.NowUnixMs) is { } bad) return Refuse(bad);
        if (c.Verdict.Refusal is { } refused) return Refuse(refused);
        if (c.Passphrase.Hash.Iterations < PassphraseProof.MinIterations)
            return Refuse(RegistrationRules.Invalid($"{cmd}.Passphrase iterations must be >= {PassphraseProof.MinIterations}"));

        if (Registered)
        {
            return VaultName != c.Verdict.VaultName
                ? Refuse(new(RegistrationRefusal.KeyForeignVault,
                    $"{cmd}.RegistrationKey is from vault '{c.Verdict.VaultName}' but server '{ServerId}' is registered with vault '{VaultName}'"))
                : Refuse(new(RegistrationRefusal.AlreadyExists,
                    $"{cmd}.ServerId '{ServerId}' is already registered with vault '{VaultName}'; use RegeneratePassphrase for a new passphrase"));
        }

        return Accept(new ConfigurationServerRegisteredEvent(
            c.ServerId, c.Verdict.VaultName, c.Verdict.KeyId, c.Connectivity, c.Endpoints.ToList(), c.NowUnixMs, c.Passphrase.Hash));
    }

    private RegistrationDecision<IConfigurationServerEvent> DecideRegenerate(RegeneratePassphraseWith c)
    {
        if (RegistrationRules.NonNegative(nameof(RegeneratePassphrase), nameof(c.NowUnixMs), c.NowUnixMs) is { } bad) return Refuse(bad);
        if (c.Passphrase.Hash.Iterations < PassphraseProof.MinIterations)
            return Refuse(RegistrationRules.Invalid($"{nameof(RegeneratePassphrase)}.Passphrase iterations must be >= {PassphraseProof.MinIterations}"));
        return Accept(new PassphraseRegeneratedEvent(ServerId, c.Passphrase.Hash, c.NowUnixMs));
    }

    private RegistrationDecision<IConfigurationServerEvent> DecideConnectivity(ChangeConnectivity c)
    {
        const string cmd = nameof(ChangeConnectivity);
        if ((RegistrationRules.Defined(cmd, nameof(c.Connectivity), c.Connectivity) ?? RegistrationRules.Endpoints(cmd, c.Endpoints)) is { } bad)
            return Refuse(bad);
        return Connectivity == c.Connectivity && Endpoints.SequenceEqual(c.Endpoints)
            ? RegistrationDecision<IConfigurationServerEvent>.NoOp
            : Accept(new ConnectivityChanged(ServerId, c.Connectivity, c.Endpoints.ToList()));
    }

    private RegistrationDecision<IConfigurationServerEvent> DecideBegin(BeginRegistrationWithNonce c)
    {
        const string cmd = nameof(BeginRegistration);
        if ((RegistrationRules.Id(cmd, nameof(c.ComponentId), c.ComponentId)
             ?? RegistrationRules.Defined(cmd, nameof(c.Kind), c.Kind)
             ?? RegistrationRules.NonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs)) is { } bad)
            return Refuse(bad);
        if (string.IsNullOrEmpty(c.Nonce) || Challenges.ContainsKey(c.Nonce))
            return Refuse(RegistrationRules.Invalid($"{cmd}.Nonce must be a fresh non-empty nonce"));
        if (Components.TryGetValue(c.ComponentId, out var existing) && !existing.Removed && existing.Kind != c.Kind)
            return Refuse(new(RegistrationRefusal.AlreadyExists,
                $"{cmd}.ComponentId '{c.ComponentId}' is registered as {existing.Kind}, not {c.Kind}"));
        return Accept(new RegistrationChallengeIssued(ServerId, c.ComponentId, c.Kind, c.Nonce, c.NowUnixMs, c.NowUnixMs + NonceLifetimeMs));
    }

    private RegistrationDecision<IConfigurationServerEvent> DecideComplete(CompleteRegistration c)
    {
        const string cmd = nameof(CompleteRegistration);
        if ((RegistrationRules.Id(cmd, nameof(c.ComponentId), c.ComponentId)
             ?? RegistrationRules.NonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs)) is { } bad)
            return Refuse(bad);
        if (string.IsNullOrEmpty(c.Nonce)) return Refuse(RegistrationRules.Invalid($"{cmd}.Nonce must be non-empty"));
        if (string.IsNullOrEmpty(c.Proof)) return Refuse(RegistrationRules.Invalid($"{cmd}.Proof must be non-empty"));

        if (!Challenges.TryGetValue(c.Nonce, out var challenge))
            return Refuse(new(RegistrationRefusal.NonceUnknown, $"{cmd}.Nonce was not issued by configuration server '{ServerId}' (or is long expired)"));
        if (challenge.ComponentId != c.ComponentId)
            return Refuse(new(RegistrationRefusal.NonceUnknown, $"{cmd}.Nonce was issued to another component, not '{c.ComponentId}'"));
        if (challenge.Renewal)
            return Refuse(new(RegistrationRefusal.NonceUnknown, $"{cmd}.Nonce was issued for a certificate's renewal, not for a registration"));
        if (challenge.Used)
            return Refuse(new(RegistrationRefusal.NonceReplayed, $"{cmd}.Nonce has already been used; call BeginRegistration for a new one"));
        if (c.NowUnixMs > challenge.ExpiresAtUnixMs)
            return Refuse(new(RegistrationRefusal.NonceExpired,
                $"{cmd}.Nonce expired at {challenge.ExpiresAtUnixMs} (now {c.NowUnixMs}); call BeginRegistration for a new one"));

        string? keySha256 = null;
        if (c.PublicKey is not null)
        {
            if (ComponentKeys.Problem(c.PublicKey) is { } why) return Refuse(RegistrationRules.Invalid($"{cmd}.PublicKey {why}"));
            keySha256 = PassphraseProof.KeySha256(Convert.FromBase64String(c.PublicKey));
        }
        if (VersionProblem(cmd, challenge.Kind, c.ComponentId, c.Versions) is { } badVersion) return Refuse(badVersion);
        if (c.Certificate is { } plan)
        {
            if (keySha256 is null) return Refuse(RegistrationRules.Invalid($"{cmd}.Certificate needs the PublicKey it certifies"));
            if (PlanProblem(cmd, plan, c.NowUnixMs) is { } badPlan) return Refuse(badPlan);
        }
        var expected = PassphraseProof.FromDerivedKey(Convert.FromBase64String(Passphrase!.HashBase64), c.Nonce, c.ComponentId, keySha256);
        if (!PassphraseProof.Matches(expected, c.Proof))
            return Refuse(new(RegistrationRefusal.WrongPassphrase,
                $"{cmd}.Proof does not match the passphrase of configuration server '{ServerId}'" + (keySha256 is null ? "" : " and the public key sent with it")));

        var events = new List<IConfigurationServerEvent>();
        // Registering again with another key (or none) ends what the earlier keys were certified for.
        if (Revocable(c.ComponentId, c.NowUnixMs, cert => cert.KeySha256 != keySha256) is { Count: > 0 } replaced)
            events.Add(new ComponentCertificatesRevoked(ServerId, c.ComponentId, replaced, CertificateRevocationReason.KeyReplaced, c.NowUnixMs));
        events.Add(keySha256 is null
            ? new ComponentRegistered(ServerId, c.ComponentId, challenge.Kind, c.Nonce, c.NowUnixMs, c.Versions?.Component)
            : new ComponentRegisteredWithKey(ServerId, c.ComponentId, challenge.Kind, c.Nonce, c.NowUnixMs, keySha256, c.Versions?.Component));
        if (c.Certificate is { } issue)
            events.Add(new ComponentCertificateIssued(ServerId, c.ComponentId, challenge.Kind, issue.SerialHex, issue.Issuer, keySha256!,
                issue.NotBeforeUnixMs, issue.NotAfterUnixMs, c.NowUnixMs, CertificateIssuance.Registration, c.Nonce));
        return RegistrationDecision<IConfigurationServerEvent>.Accept([.. events]);
    }

    /// <summary>
    /// Why the versions a component reported refuse it: not a version, or newer than the configuration server's (the
    /// site's upgrade order). Null when they are fine or were not reported (a component from before versions).
    /// </summary>
    internal static RegistrationReply.Refused? VersionProblem(string cmd, ComponentKind kind, string componentId, ReportedVersions? versions)
    {
        if (versions is null) return null;
        if (ProductVersion.Problem(versions.Component) is { } bad) return RegistrationRules.Invalid($"{cmd}.Versions.Component {bad}");
        if (ProductVersion.Problem(versions.ConfigurationServer) is { } badServer) return RegistrationRules.Invalid($"{cmd}.Versions.ConfigurationServer {badServer}");
        return ProductVersion.NewerThanServerProblem(kind, componentId, versions.Component, versions.ConfigurationServer) is { } newer
            ? new(RegistrationRefusal.ComponentNewer, newer)
            : null;
    }

    public ConfigurationServerState Apply(IConfigurationServerEvent @event) => @event switch
    {
        ConfigurationServerRegisteredEvent e => this with
        {
            Registered = true, VaultName = e.VaultName, KeyId = e.KeyId, Connectivity = e.Connectivity,
            Endpoints = [.. e.Endpoints], RegisteredAtUnixMs = e.RegisteredAtUnixMs, Passphrase = e.Passphrase, PassphraseGeneration = 1,
        },
        PassphraseRegeneratedEvent e => this with
        {
            Passphrase = e.Passphrase,
            PassphraseGeneration = PassphraseGeneration + 1,
            Components = Components.ToImmutableSortedDictionary(kv => kv.Key, kv => kv.Value with { NeedsReregistration = true }, StringComparer.Ordinal),
            // Challenges carry the old salt: none of them can complete any more.
            Challenges = Challenges.Clear(),
        },
        ConnectivityChanged e => this with { Connectivity = e.Connectivity, Endpoints = [.. e.Endpoints] },
        RegistrationChallengeIssued e => this with
        {
            Challenges = Challenges
                .RemoveRange(Challenges.Where(kv => kv.Value.ExpiresAtUnixMs + ChallengeRetentionMs < e.IssuedAtUnixMs).Select(kv => kv.Key))
                .SetItem(e.Nonce, new Challenge(e.ComponentId, e.Kind, e.IssuedAtUnixMs, e.ExpiresAtUnixMs, false)),
        },
        ComponentRegistered e => WithComponent(e.ComponentId, new ComponentRecord(e.Kind, e.RegisteredAtUnixMs, false, null, CertificatesOf(e.ComponentId), Version: e.Version), e.Nonce),
        ComponentRegisteredWithKey e => WithComponent(e.ComponentId, new ComponentRecord(e.Kind, e.RegisteredAtUnixMs, false, e.KeySha256, CertificatesOf(e.ComponentId), Version: e.Version), e.Nonce),
        ComponentVersionReported e => this with { Components = Components.SetItem(e.ComponentId, Components[e.ComponentId] with { Version = e.Version }) },
        ComponentCertificateIssued e => ApplyIssued(e),
        ComponentCertificatesRevoked e => ApplyRevoked(e),
        ComponentRemoved e => this with { Components = Components.SetItem(e.ComponentId, Components[e.ComponentId] with { Removed = true }) },
        RenewalChallengeIssued e => this with
        {
            Challenges = Challenges
                .RemoveRange(Challenges.Where(kv => kv.Value.ExpiresAtUnixMs + ChallengeRetentionMs < e.IssuedAtUnixMs).Select(kv => kv.Key))
                .SetItem(e.Nonce, new Challenge(e.ComponentId, e.Kind, e.IssuedAtUnixMs, e.ExpiresAtUnixMs, false, Renewal: true)),
        },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown ConfigurationServer event"),
    };

    ConfigurationServerState WithComponent(string componentId, ComponentRecord record, string nonce) => this with
    {
        Components = Components.SetItem(componentId, record),
        Challenges = Challenges.TryGetValue(nonce, out var ch) ? Challenges.SetItem(nonce, ch with { Used = true }) : Challenges,
    };

    public RegistrationReply Reply(IConfigurationServerCommand command, int eventCount) => command switch
    {
        RegisterWithVerifiedKey c => new ConfigurationServerRegistered(ServerId, VaultName!, KeyId, c.Passphrase.Plaintext),
        RegeneratePassphraseWith c => new PassphraseRegenerated(ServerId, PassphraseGeneration, Components.Values.Count(x => !x.Removed), c.Passphrase.Plaintext),
        BeginRegistrationWithNonce c => new RegistrationChallenge(
            ServerId, c.ComponentId, c.Kind, c.Nonce, Passphrase!.SaltBase64, Passphrase.Iterations, Challenges[c.Nonce].ExpiresAtUnixMs),
        CompleteRegistration c => new ComponentRegistrationCompleted(ServerId, c.ComponentId, Components[c.ComponentId].Kind, c.NowUnixMs, Components[c.ComponentId].KeySha256),
        RemoveComponent c => new ComponentRemovedReply(ServerId, c.ComponentId, Components[c.ComponentId].Kind,
            Components[c.ComponentId].Issued.Where(x => x.Revoked == CertificateRevocationReason.ComponentRemoved && x.NotAfterUnixMs >= c.NowUnixMs)
                .Select(x => new RevokedCertificate(x.SerialHex, x.Issuer, x.NotAfterUnixMs)).ToList()),
        BeginRenewalWithNonce c => new RenewalChallenge(ServerId, c.ComponentId, c.Nonce, Challenges[c.Nonce].ExpiresAtUnixMs),
        RenewCertificate c => new CertificateRenewed(ServerId, c.ComponentId, Components[c.ComponentId].Kind, c.Plan.SerialHex, Components[c.ComponentId].KeySha256!),
        _ => new RegistrationReply.Accepted(eventCount),
    };

    public ConfigurationServerView ToView() => new(
        ServerId, Registered, VaultName, KeyId, Connectivity, Endpoints, PassphraseGeneration, RegisteredAtUnixMs,
        Components.Where(kv => !kv.Value.Removed).Select(kv => new RegisteredComponentView(kv.Key, kv.Value.Kind, kv.Value.RegisteredAtUnixMs, kv.Value.NeedsReregistration, kv.Value.KeySha256, kv.Value.Version)).ToList());

    private bool PrintMembers(StringBuilder b)
    {
        b.Append($"ServerId = {ServerId}, Registered = {Registered}, VaultName = {VaultName}, KeyId = {KeyId}, Connectivity = {Connectivity}, ");
        b.Append($"Endpoints = [{string.Join(", ", Endpoints)}], PassphraseGeneration = {PassphraseGeneration}, Passphrase = {Redact.Marker}, ");
        b.Append($"Components = {Components.Count}, Challenges = {Challenges.Count}");
        return true;
    }

    private static string Name(IConfigurationServerCommand command) => command switch
    {
        RegeneratePassphraseWith => nameof(RegeneratePassphrase),
        BeginRegistrationWithNonce => nameof(BeginRegistration),
        BeginRenewalWithNonce => nameof(BeginRenewal),
        _ => command.GetType().Name,
    };

    private static RegistrationDecision<IConfigurationServerEvent> Accept(IConfigurationServerEvent e) =>
        RegistrationDecision<IConfigurationServerEvent>.Accept(e);

    private static RegistrationDecision<IConfigurationServerEvent> Refuse(RegistrationReply.Refused refusal) =>
        RegistrationDecision<IConfigurationServerEvent>.Refuse(refusal);
}
