using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>
/// The certificates the site's authority issues, straight on the configuration server's pure Decide/Apply: every one is
/// journaled by serial; a removal or a registration with another key revokes the earlier ones by serial and reason; a
/// renewal needs a fresh renewal nonce and the key of a current certificate, and revokes nothing.
/// </summary>
public sealed class CertificateLifecycleTests
{
    const string Ps = "ps-1";
    const string Issuer = "CN=SiteRecovery site authority test";
    const long Day = 24L * 3600 * 1000;

    static readonly ECDsa KeyA = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    static readonly ECDsa KeyB = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    static string Spki(ECDsa k) => Convert.ToBase64String(k.ExportSubjectPublicKeyInfo());
    static string Sha(ECDsa k) => PassphraseProof.KeySha256(k.ExportSubjectPublicKeyInfo());

    static CertificatePlan Plan(string serial, long now, long lifetime = 30 * Day) => new(serial, Issuer, now - 300_000, now + lifetime);

    static string KeyedProof(string nonce, string componentId, ECDsa? key) =>
        PassphraseProof.FromDerivedKey(Convert.FromBase64String(P1.Hash.HashBase64), nonce, componentId, key is null ? null : Sha(key));

    static ConfigurationServerState Apply(ConfigurationServerState s, IEnumerable<IConfigurationServerEvent> events) => events.Aggregate(s, (x, e) => x.Apply(e));

    /// <summary>Registers <see cref="Ps"/> with <paramref name="key"/> (none: without a key) and, with a key, a certificate of <paramref name="serial"/>.</summary>
    static (ConfigurationServerState State, IReadOnlyList<IConfigurationServerEvent> Events) Register(ConfigurationServerState s, ECDsa? key, string serial, long now, string nonce)
    {
        var (begun, _) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(s,
            new BeginRegistrationWithNonce(Server, Ps, ComponentKind.ProcessServer, nonce, now));
        return Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(begun,
            new CompleteRegistration(Server, Ps, nonce, KeyedProof(nonce, Ps, key), now + 1, key is null ? null : Spki(key), key is null ? null : Plan(serial, now + 1)));
    }

    static ConfigurationServerState BeginRenewal(ConfigurationServerState s, string nonce, long now) =>
        Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(s, new BeginRenewalWithNonce(Server, Ps, nonce, now)).State;

    static RenewCertificate Renew(string nonce, string presentedSerial, ECDsa presentedKey, ECDsa signer, string serial, long now, ECDsa? newKey = null) =>
        new(Server, Ps, nonce, presentedSerial, Issuer, Spki(presentedKey),
            Convert.ToBase64String(signer.SignData(RenewalProof.Payload(Server, Ps, nonce, Sha(newKey ?? presentedKey)), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
            newKey is null ? null : Spki(newKey), Plan(serial, now), now);

    [Fact]
    public void A_registration_with_another_key_revokes_the_earlier_keys_certificates_by_serial_and_one_with_the_same_key_revokes_nothing()
    {
        var (s1, first) = Register(RegisteredServer(), KeyA, "A1", T0, "n1");
        var issued = Assert.Single(first.OfType<ComponentCertificateIssued>());
        Assert.Equal(("A1", Issuer, Sha(KeyA), CertificateIssuance.Registration), (issued.SerialHex, issued.Issuer, issued.KeySha256, issued.Issuance));
        Assert.Empty(first.OfType<ComponentCertificatesRevoked>());

        var (s2, same) = Register(s1, KeyA, "A2", T0 + 10, "n2");
        Assert.Empty(same.OfType<ComponentCertificatesRevoked>());
        Assert.All(s2.Components[Ps].Issued, c => Assert.Null(c.Revoked));

        var (s3, other) = Register(s2, KeyB, "B1", T0 + 20, "n3");
        var revoked = Assert.Single(other.OfType<ComponentCertificatesRevoked>());
        Assert.Equal(CertificateRevocationReason.KeyReplaced, revoked.Reason);
        Assert.Equal(["A1", "A2"], revoked.Certificates.Select(c => c.SerialHex).Order());
        Assert.Equal(Sha(KeyB), s3.Components[Ps].KeySha256);
        Assert.Equal(["A1", "A2"], s3.Components[Ps].Issued.Where(c => c.Revoked is not null).Select(c => c.SerialHex).Order());

        // Registering without a key at all ends what the last key was certified for too.
        var (_, none) = Register(s3, null, "", T0 + 30, "n4");
        Assert.Equal(["B1"], Assert.Single(none.OfType<ComponentCertificatesRevoked>()).Certificates.Select(c => c.SerialHex));
    }

    [Fact]
    public void Removing_a_component_revokes_all_its_live_certificates_and_a_second_removal_is_refused_by_name()
    {
        var (s1, _) = Register(RegisteredServer(), KeyA, "A1", T0, "n1");
        var remove = new RemoveComponent(Server, Ps, T0 + 100);
        var d = s1.Decide(remove);
        Assert.False(d.IsRefused, d.Refusal?.Message);
        var revoked = Assert.Single(d.Events.OfType<ComponentCertificatesRevoked>());
        Assert.Equal((CertificateRevocationReason.ComponentRemoved, "A1"), (revoked.Reason, Assert.Single(revoked.Certificates).SerialHex));
        var s2 = Apply(s1, d.Events);
        var reply = Assert.IsType<ComponentRemovedReply>(s2.Reply(remove, d.Events.Count));
        Assert.Equal("A1", Assert.Single(reply.Revoked).SerialHex);
        Assert.Empty(s2.ToView().Components);

        var again = s2.Decide(remove with { NowUnixMs = T0 + 200 });
        Assert.Equal(RegistrationRefusal.NotFound, again.Refusal?.Reason);
        Assert.Contains(Ps, again.Refusal!.Message);
        Assert.Empty(again.Events);

        // Nor can the removed component renew: it must register again.
        Assert.Equal(RegistrationRefusal.CertificateUnknown, s2.Decide(new BeginRenewalWithNonce(Server, Ps, "r1", T0 + 300)).Refusal?.Reason);
    }

    [Fact]
    public void A_renewal_with_the_current_key_gives_a_new_serial_for_the_same_key_and_leaves_the_old_certificate_valid()
    {
        var (s1, _) = Register(RegisteredServer(), KeyA, "A1", T0, "n1");
        var s2 = BeginRenewal(s1, "r1", T0 + 10);
        var renew = Renew("r1", "A1", KeyA, KeyA, "A2", T0 + 11);
        var d = s2.Decide(renew);
        Assert.False(d.IsRefused, d.Refusal?.Message);
        var issued = Assert.IsType<ComponentCertificateIssued>(Assert.Single(d.Events));
        Assert.Equal(("A2", Sha(KeyA), CertificateIssuance.Renewal), (issued.SerialHex, issued.KeySha256, issued.Issuance));
        var s3 = Apply(s2, d.Events);
        Assert.Equal(new CertificateRenewed(Server, Ps, ComponentKind.ProcessServer, "A2", Sha(KeyA)), s3.Reply(renew, 1));
        Assert.Equal(["A1", "A2"], s3.Components[Ps].Issued.Select(c => c.SerialHex));
        Assert.All(s3.Components[Ps].Issued, c => Assert.Null(c.Revoked));
        // The nonce is spent.
        Assert.Equal(RegistrationRefusal.NonceReplayed, s3.Decide(Renew("r1", "A2", KeyA, KeyA, "A3", T0 + 12)).Refusal?.Reason);
        // A renewal may move to a new key: proved by the current key, over the new key's hash.
        var s4 = BeginRenewal(s3, "r2", T0 + 20);
        var moved = Assert.IsType<ComponentCertificateIssued>(Assert.Single(s4.Decide(Renew("r2", "A2", KeyA, KeyA, "B1", T0 + 21, KeyB)).Events));
        Assert.Equal(Sha(KeyB), moved.KeySha256);
    }

    [Fact]
    public void A_renewal_with_a_wrong_signature_a_revoked_an_expired_or_an_unknown_certificate_or_a_registration_nonce_is_refused_by_name_and_stores_nothing()
    {
        var (registered, _) = Register(RegisteredServer(), KeyA, "A1", T0, "n1");
        var s = BeginRenewal(registered, "r1", T0 + 10);

        void Refused(ConfigurationServerState state, RenewCertificate command, RegistrationRefusal reason, string mentions)
        {
            var before = Json(state);
            var d = state.Decide(command);
            Assert.True(d.IsRefused, $"{command.PresentedSerialHex}: accepted, want {reason}");
            Assert.Equal(reason, d.Refusal!.Reason);
            Assert.Contains(mentions, d.Refusal.Message);
            Assert.Empty(d.Events);
            Assert.Equal(before, Json(state));
        }

        // Signed by another key than the certificate's; or by the right key over another key to certify.
        Refused(s, Renew("r1", "A1", KeyA, KeyB, "A2", T0 + 11), RegistrationRefusal.SignatureInvalid, "Signature");
        var overOther = Renew("r1", "A1", KeyA, KeyA, "A2", T0 + 11) with { NewPublicKey = Spki(KeyB) };
        Refused(s, overOther, RegistrationRefusal.SignatureInvalid, "Signature");
        // A certificate of this component presented with another key than the one it certifies.
        Refused(s, Renew("r1", "A1", KeyB, KeyB, "A2", T0 + 11), RegistrationRefusal.CertificateUnknown, "another key");
        // A serial this site never issued to the component, or one of another issuer.
        Refused(s, Renew("r1", "FF", KeyA, KeyA, "A2", T0 + 11), RegistrationRefusal.CertificateUnknown, "FF");
        Refused(s, Renew("r1", "A1", KeyA, KeyA, "A2", T0 + 11) with { PresentedIssuer = "CN=another site" }, RegistrationRefusal.CertificateUnknown, "another site");
        // A registration's nonce is not a renewal's.
        var (withRegistrationNonce, _) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(s,
            new BeginRegistrationWithNonce(Server, Ps, ComponentKind.ProcessServer, "n2", T0 + 12));
        Refused(withRegistrationNonce, Renew("n2", "A1", KeyA, KeyA, "A2", T0 + 13), RegistrationRefusal.NonceUnknown, "registration");
        // Nor does a renewal's nonce complete a registration.
        var registrationWithRenewalNonce = s.Decide(new CompleteRegistration(Server, Ps, "r1", KeyedProof("r1", Ps, KeyA), T0 + 11, Spki(KeyA), Plan("A9", T0 + 11)));
        Assert.Equal(RegistrationRefusal.NonceUnknown, registrationWithRenewalNonce.Refusal?.Reason);

        // Expired: a certificate that ended before the renewal.
        var (shortLived, _) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(
            Apply(RegisteredServer(), [new RegistrationChallengeIssued(Server, Ps, ComponentKind.ProcessServer, "n1", T0, T0 + 60_000)]),
            new CompleteRegistration(Server, Ps, "n1", KeyedProof("n1", Ps, KeyA), T0 + 1, Spki(KeyA), Plan("A1", T0 + 1, lifetime: 1000)));
        var late = BeginRenewal(shortLived, "r1", T0 + 5000);
        Refused(late, Renew("r1", "A1", KeyA, KeyA, "A2", T0 + 5001), RegistrationRefusal.CertificateExpired, "ended");

        // Revoked: re-registered with another key, the old certificate cannot renew.
        var (replaced, _) = Register(s, KeyB, "B1", T0 + 20, "n3");
        var again = BeginRenewal(replaced, "r2", T0 + 30);
        Refused(again, Renew("r2", "A1", KeyA, KeyA, "A2", T0 + 31), RegistrationRefusal.CertificateRevoked, "KeyReplaced");
    }

    // ---------- property: any sequence ----------
    static readonly string[] Serials = ["A1", "A2", "B1", "B2", "C1"];
    static readonly string[] Nonces = ["n0", "n1", "n2", "n3"];

    static readonly Gen<Func<ConfigurationServerState, IConfigurationServerCommand>> Step = Gen.Frequency(
        (3, from nonce in Gen.Elements(Nonces)
            from renewal in Gen.Elements(false, true)
            from t in Gen.Choose(0, 100_000)
            select (Func<ConfigurationServerState, IConfigurationServerCommand>)(_ => renewal
                ? new BeginRenewalWithNonce(Server, Ps, nonce, T0 + t)
                : new BeginRegistrationWithNonce(Server, Ps, ComponentKind.ProcessServer, nonce, T0 + t))),
        (3, from nonce in Gen.Elements(Nonces)
            from key in Gen.Elements<ECDsa?>(KeyA, KeyB, null)
            from serial in Gen.Elements(Serials)
            from t in Gen.Choose(0, 100_000)
            select (Func<ConfigurationServerState, IConfigurationServerCommand>)(_ =>
                new CompleteRegistration(Server, Ps, nonce, KeyedProof(nonce, Ps, key), T0 + t, key is null ? null : Spki(key), key is null ? null : Plan(serial, T0 + t, lifetime: 50_000)))),
        (3, from nonce in Gen.Elements(Nonces)
            from presented in Gen.Elements(Serials)
            from held in Gen.Elements(KeyA, KeyB)
            from signer in Gen.Elements(KeyA, KeyB)
            from serial in Gen.Elements(Serials)
            from t in Gen.Choose(0, 100_000)
            select (Func<ConfigurationServerState, IConfigurationServerCommand>)(_ => Renew(nonce, presented, held, signer, serial, T0 + t))),
        (1, Gen.Choose(0, 100_000).Select(t => (Func<ConfigurationServerState, IConfigurationServerCommand>)(_ => new RemoveComponent(Server, Ps, T0 + t)))));

    [Property(MaxTest = 300)]
    public Property Certificates_are_unique_by_serial_revocation_is_final_and_only_a_current_certificates_key_renews() =>
        Prop.ForAll(Gen.ArrayOf(Step).ToArbitrary(), steps =>
        {
            var empty = RegisteredServer();
            var state = empty;
            var emitted = new List<IConfigurationServerEvent>();
            foreach (var step in steps)
            {
                var command = step(state);
                var before = Json(state);
                var d = state.Decide(command);
                Assert.Equal(before, Json(state));
                if (d.IsRefused)
                {
                    Assert.Empty(d.Events);
                    continue;
                }
                var next = Apply(state, d.Events);
                var was = state.Components.TryGetValue(Ps, out var r) ? r.Issued : [];
                var now = next.Components.TryGetValue(Ps, out var n) ? n.Issued : [];
                // Serials are unique; a revoked certificate stays revoked; nothing is issued but what the journal names.
                Assert.Equal(now.Count, now.Select(c => c.SerialHex).Distinct().Count());
                Assert.All(was.Where(c => c.Revoked is not null), c => Assert.Equal(c.Revoked, now.Single(x => x.SerialHex == c.SerialHex).Revoked));
                Assert.Equal(d.Events.OfType<ComponentCertificateIssued>().Count(), now.Count - was.Count);
                switch (command)
                {
                    case CompleteRegistration c:
                        // After a registration, every live unrevoked certificate is for the key it vouched for.
                        var key = c.PublicKey is null ? null : PassphraseProof.KeySha256(Convert.FromBase64String(c.PublicKey));
                        Assert.All(now.Where(x => x.Revoked is null && x.NotAfterUnixMs >= c.NowUnixMs), x => Assert.Equal(key, x.KeySha256));
                        break;
                    case RemoveComponent c:
                        Assert.All(now.Where(x => x.NotAfterUnixMs >= c.NowUnixMs), x => Assert.NotNull(x.Revoked));
                        break;
                    case RenewCertificate c:
                        // Accepted only for a certificate that was current, for the key that signed.
                        var held = was.Single(x => x.SerialHex == c.PresentedSerialHex);
                        Assert.Null(held.Revoked);
                        Assert.True(c.NowUnixMs <= held.NotAfterUnixMs);
                        Assert.Equal(held.KeySha256, PassphraseProof.KeySha256(Convert.FromBase64String(c.PresentedPublicKey)));
                        Assert.Empty(d.Events.OfType<ComponentCertificatesRevoked>());
                        break;
                }
                emitted.AddRange(d.Events);
                state = next;
            }
            Assert.Equal(Json(state), Json(Apply(empty, emitted)));
        });
}
