using System.Collections.Immutable;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ConfigurationServer;

/// <summary><see cref="BeginRenewal"/> with the freshly generated nonce. Not for clients.</summary>
public sealed record BeginRenewalWithNonce(string ConfigServerId, string ComponentId, string Nonce, long NowUnixMs) : IConfigurationServerCommand;

/// <summary>
/// The certificates the site's authority issued to components: which exist (every one is journaled, serial first, before
/// it is signed), which are revoked and why, and their renewal. Invariants:
/// <list type="bullet">
/// <item>A certificate is revoked only while it has not ended; once revoked it never becomes valid again.</item>
/// <item>A registration with another key than the last certified one (or with none) revokes every certificate of the
/// earlier keys; one with the same key revokes nothing. Removing a component revokes all of its certificates.</item>
/// <item>A renewal needs a fresh renewal nonce (single use, never a registration's), a certificate of this component, of
/// this issuer, for the key presented, neither revoked nor ended, and that key's signature over the nonce and the key to
/// certify. It issues a new serial and revokes nothing: the old certificate stays valid until it ends.</item>
/// </list>
/// </summary>
public sealed partial record ConfigurationServerState
{
    /// <summary>How long an ended certificate stays in the state (for a clear "expired" rather than "unknown").</summary>
    public const long CertificateRetentionMs = 30L * 24 * 3600 * 1000;
    const int SerialHexMax = 40;
    const int IssuerMax = 512;

    RegistrationDecision<IConfigurationServerEvent> DecideRemove(RemoveComponent c)
    {
        const string cmd = nameof(RemoveComponent);
        if ((RegistrationRules.Id(cmd, nameof(c.ComponentId), c.ComponentId) ?? RegistrationRules.NonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs)) is { } bad)
            return Refuse(bad);
        if (!Components.TryGetValue(c.ComponentId, out var component) || component.Removed)
            return Refuse(new(RegistrationRefusal.NotFound, $"{cmd}.ComponentId '{c.ComponentId}' is not a registered component of configuration server '{ServerId}'"));
        var events = new List<IConfigurationServerEvent>();
        if (Revocable(c.ComponentId, c.NowUnixMs, _ => true) is { Count: > 0 } all)
            events.Add(new ComponentCertificatesRevoked(ServerId, c.ComponentId, all, CertificateRevocationReason.ComponentRemoved, c.NowUnixMs));
        events.Add(new ComponentRemoved(ServerId, c.ComponentId, component.Kind, c.NowUnixMs));
        return RegistrationDecision<IConfigurationServerEvent>.Accept([.. events]);
    }

    RegistrationDecision<IConfigurationServerEvent> DecideBeginRenewal(BeginRenewalWithNonce c)
    {
        const string cmd = nameof(BeginRenewal);
        if ((RegistrationRules.Id(cmd, nameof(c.ComponentId), c.ComponentId) ?? RegistrationRules.NonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs)) is { } bad)
            return Refuse(bad);
        if (string.IsNullOrEmpty(c.Nonce) || Challenges.ContainsKey(c.Nonce))
            return Refuse(RegistrationRules.Invalid($"{cmd}.Nonce must be a fresh non-empty nonce"));
        if (!Components.TryGetValue(c.ComponentId, out var component) || component.Removed)
            return Refuse(new(RegistrationRefusal.CertificateUnknown, $"{cmd}.ComponentId '{c.ComponentId}' is not a registered component of configuration server '{ServerId}'"));
        return Accept(new RenewalChallengeIssued(ServerId, c.ComponentId, component.Kind, c.Nonce, c.NowUnixMs, c.NowUnixMs + NonceLifetimeMs));
    }

    RegistrationDecision<IConfigurationServerEvent> DecideRenew(RenewCertificate c)
    {
        const string cmd = nameof(RenewCertificate);
        if ((RegistrationRules.Id(cmd, nameof(c.ComponentId), c.ComponentId) ?? RegistrationRules.NonNegative(cmd, nameof(c.NowUnixMs), c.NowUnixMs)) is { } bad)
            return Refuse(bad);
        if (string.IsNullOrEmpty(c.Nonce)) return Refuse(RegistrationRules.Invalid($"{cmd}.Nonce must be non-empty"));
        if (string.IsNullOrEmpty(c.Signature)) return Refuse(RegistrationRules.Invalid($"{cmd}.Signature must be non-empty"));
        if (string.IsNullOrEmpty(c.PresentedSerialHex) || string.IsNullOrEmpty(c.PresentedIssuer))
            return Refuse(RegistrationRules.Invalid($"{cmd}.PresentedSerialHex and PresentedIssuer must be non-empty"));
        if (ComponentKeys.Problem(c.PresentedPublicKey ?? "") is { } presentedProblem) return Refuse(RegistrationRules.Invalid($"{cmd}.PresentedPublicKey {presentedProblem}"));
        if (c.NewPublicKey is not null && ComponentKeys.Problem(c.NewPublicKey) is { } newProblem) return Refuse(RegistrationRules.Invalid($"{cmd}.NewPublicKey {newProblem}"));
        if (c.Plan is null) return Refuse(RegistrationRules.Invalid($"{cmd}.Plan must be given"));
        if (PlanProblem(cmd, c.Plan, c.NowUnixMs) is { } badPlan) return Refuse(badPlan);

        if (!Challenges.TryGetValue(c.Nonce, out var challenge) || challenge.ComponentId != c.ComponentId)
            return Refuse(new(RegistrationRefusal.NonceUnknown, $"{cmd}.Nonce was not issued by configuration server '{ServerId}' to '{c.ComponentId}' (or is long expired)"));
        if (!challenge.Renewal)
            return Refuse(new(RegistrationRefusal.NonceUnknown, $"{cmd}.Nonce was issued for a registration, not for a renewal"));
        if (challenge.Used)
            return Refuse(new(RegistrationRefusal.NonceReplayed, $"{cmd}.Nonce has already been used; call BeginRenewal for a new one"));
        if (c.NowUnixMs > challenge.ExpiresAtUnixMs)
            return Refuse(new(RegistrationRefusal.NonceExpired, $"{cmd}.Nonce expired at {challenge.ExpiresAtUnixMs} (now {c.NowUnixMs}); call BeginRenewal for a new one"));

        var presented = $"certificate {c.PresentedSerialHex} of '{c.ComponentId}'";
        if (!Components.TryGetValue(c.ComponentId, out var component) || component.Removed
            || component.Issued.FirstOrDefault(x => x.SerialHex == c.PresentedSerialHex && x.Issuer == c.PresentedIssuer) is not { } held)
            return Refuse(new(RegistrationRefusal.CertificateUnknown, $"{cmd}: {presented} issued by '{c.PresentedIssuer}' was not issued by this site to that component"));
        if (held.Revoked is { } why)
            return Refuse(new(RegistrationRefusal.CertificateRevoked, $"{cmd}: {presented} was revoked ({why}); register again"));
        if (c.NowUnixMs > held.NotAfterUnixMs)
            return Refuse(new(RegistrationRefusal.CertificateExpired, $"{cmd}: {presented} ended at {held.NotAfterUnixMs} (now {c.NowUnixMs}); register again"));
        var presentedKey = Convert.FromBase64String(c.PresentedPublicKey!);
        if (PassphraseProof.KeySha256(presentedKey) != held.KeySha256)
            return Refuse(new(RegistrationRefusal.CertificateUnknown, $"{cmd}: {presented} was issued for another key than the one presented"));
        var newKeySha256 = c.NewPublicKey is null ? held.KeySha256 : PassphraseProof.KeySha256(Convert.FromBase64String(c.NewPublicKey));
        if (!RenewalProof.Verify(presentedKey, RenewalProof.Payload(ServerId, c.ComponentId, c.Nonce, newKeySha256), c.Signature))
            return Refuse(new(RegistrationRefusal.SignatureInvalid, $"{cmd}.Signature is not the signature of {presented}'s key over this nonce and the key to certify"));

        // After the proof: only the component itself can say what version it is.
        if (VersionProblem(cmd, component.Kind, c.ComponentId, c.Versions) is { } badVersion) return Refuse(badVersion);

        IConfigurationServerEvent issued = new ComponentCertificateIssued(ServerId, c.ComponentId, component.Kind, c.Plan.SerialHex, c.Plan.Issuer, newKeySha256,
            c.Plan.NotBeforeUnixMs, c.Plan.NotAfterUnixMs, c.NowUnixMs, CertificateIssuance.Renewal, c.Nonce);
        return c.Versions is { } v && v.Component != component.Version
            ? RegistrationDecision<IConfigurationServerEvent>.Accept(issued, new ComponentVersionReported(ServerId, c.ComponentId, v.Component, c.NowUnixMs))
            : Accept(issued);
    }

    /// <summary>Why <paramref name="plan"/> cannot be issued: a serial that is not hex or is already used, an issuer too long, an empty validity.</summary>
    RegistrationReply.Refused? PlanProblem(string cmd, CertificatePlan plan, long nowUnixMs)
    {
        if (string.IsNullOrEmpty(plan.SerialHex) || plan.SerialHex.Length > SerialHexMax || !plan.SerialHex.All(ch => char.IsAsciiDigit(ch) || ch is >= 'A' and <= 'F'))
            return RegistrationRules.Invalid($"{cmd}.Certificate.SerialHex must be 1-{SerialHexMax} upper-case hex digits (was '{plan.SerialHex}')");
        if (string.IsNullOrEmpty(plan.Issuer) || plan.Issuer.Length > IssuerMax)
            return RegistrationRules.Invalid($"{cmd}.Certificate.Issuer must be 1-{IssuerMax} chars");
        if (plan.NotAfterUnixMs <= plan.NotBeforeUnixMs || plan.NotAfterUnixMs <= nowUnixMs)
            return RegistrationRules.Invalid($"{cmd}.Certificate must end after it begins and after now (was {plan.NotBeforeUnixMs}..{plan.NotAfterUnixMs}, now {nowUnixMs})");
        if (Components.Values.Any(r => r.Issued.Any(x => x.SerialHex == plan.SerialHex && x.Issuer == plan.Issuer)))
            return new(RegistrationRefusal.AlreadyExists, $"{cmd}.Certificate.SerialHex {plan.SerialHex} was already issued");
        return null;
    }

    /// <summary>The component's certificates that <paramref name="which"/> selects and that are neither revoked nor ended at <paramref name="nowUnixMs"/>.</summary>
    List<RevokedCertificate> Revocable(string componentId, long nowUnixMs, Func<IssuedCertificate, bool> which) =>
        Components.TryGetValue(componentId, out var component)
            ? component.Issued.Where(x => x.Revoked is null && x.NotAfterUnixMs >= nowUnixMs && which(x))
                .Select(x => new RevokedCertificate(x.SerialHex, x.Issuer, x.NotAfterUnixMs)).ToList()
            : [];

    ImmutableList<IssuedCertificate>? CertificatesOf(string componentId) => Components.TryGetValue(componentId, out var r) ? r.Certificates : null;

    ConfigurationServerState ApplyIssued(ComponentCertificateIssued e)
    {
        var record = Components[e.ComponentId];
        var kept = record.Issued.RemoveAll(x => x.NotAfterUnixMs + CertificateRetentionMs < e.IssuedAtUnixMs)
            .Add(new IssuedCertificate(e.SerialHex, e.Issuer, e.KeySha256, e.NotBeforeUnixMs, e.NotAfterUnixMs));
        return this with
        {
            Components = Components.SetItem(e.ComponentId, record with { KeySha256 = e.KeySha256, Certificates = kept }),
            Challenges = Challenges.TryGetValue(e.Nonce, out var ch) ? Challenges.SetItem(e.Nonce, ch with { Used = true }) : Challenges,
        };
    }

    ConfigurationServerState ApplyRevoked(ComponentCertificatesRevoked e)
    {
        var record = Components[e.ComponentId];
        var serials = e.Certificates.Select(x => (x.SerialHex, x.Issuer)).ToHashSet();
        var marked = record.Issued.Select(x => serials.Contains((x.SerialHex, x.Issuer)) && x.Revoked is null ? x with { Revoked = e.Reason } : x).ToImmutableList();
        return this with { Components = Components.SetItem(e.ComponentId, record with { Certificates = marked }) };
    }
}
