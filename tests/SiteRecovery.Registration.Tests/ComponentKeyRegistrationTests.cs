using System.Security.Cryptography;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>
/// A registration that sends the component's public key: the proof must cover that key's hash, so someone between the
/// component and the configuration server cannot have their own key certified with a proof they relayed.
/// </summary>
public sealed class ComponentKeyRegistrationTests
{
    const string Vm = "vm1";

    static (ConfigurationServerState State, string Passphrase) Registered()
    {
        var fresh = Secrets.NewPassphraseWithHash();
        var command = new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Internet, Endpoints, T0, fresh);
        var (state, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(ConfigurationServerState.Empty(Server), command);
        return (state, Assert.IsType<ConfigurationServerRegistered>(state.Reply(command, events.Count)).Passphrase);
    }

    static (ConfigurationServerState, RegistrationChallenge) Begin(ConfigurationServerState state, long now)
    {
        var command = new BeginRegistrationWithNonce(Server, Vm, ComponentKind.Agent, Secrets.NewNonce(), now);
        var (next, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(state, command);
        return (next, Assert.IsType<RegistrationChallenge>(next.Reply(command, events.Count)));
    }

    static string P256() { using var k = ECDsa.Create(ECCurve.NamedCurves.nistP256); return Convert.ToBase64String(k.ExportSubjectPublicKeyInfo()); }

    static string Proof(string passphrase, RegistrationChallenge ch, string? keyBase64) =>
        PassphraseProof.Compute(passphrase, ch.SaltBase64, ch.Nonce, Vm, ch.Iterations, keyBase64 is null ? null : PassphraseProof.KeySha256(Convert.FromBase64String(keyBase64)));

    [Fact]
    public void A_proof_covering_the_key_registers_the_component_with_that_key()
    {
        var (state, passphrase) = Registered();
        var (s1, ch) = Begin(state, T0 + 1);
        var key = P256();
        var command = new CompleteRegistration(Server, Vm, ch.Nonce, Proof(passphrase, ch, key), T0 + 2, key);
        var decision = s1.Decide(command);
        Assert.False(decision.IsRefused, decision.Refusal?.Message);
        var registered = Assert.IsType<ComponentRegisteredWithKey>(Assert.Single(decision.Events));
        var sha = PassphraseProof.KeySha256(Convert.FromBase64String(key));
        Assert.Equal(sha, registered.KeySha256);
        Assert.Equal(ComponentKind.Agent, registered.Kind);
        var s2 = decision.Events.Aggregate(s1, (s, e) => s.Apply(e));
        Assert.Equal(new RegisteredComponentView(Vm, ComponentKind.Agent, T0 + 2, false, sha), Assert.Single(s2.ToView().Components));
        Assert.Equal(sha, Assert.IsType<ComponentRegistrationCompleted>(s2.Reply(command, 1)).KeySha256);
        Assert.DoesNotContain(command.Proof, command.ToString());

        // A later registration without a key drops the certified key: what is certified is what the last proof covered.
        var (s3, again) = Begin(s2, T0 + 3);
        var plain = s3.Decide(new CompleteRegistration(Server, Vm, again.Nonce, Proof(passphrase, again, null), T0 + 4));
        Assert.IsType<ComponentRegistered>(Assert.Single(plain.Events));
        Assert.Null(Assert.Single(plain.Events.Aggregate(s3, (s, e) => s.Apply(e)).ToView().Components).KeySha256);
    }

    [Fact]
    public void A_key_the_proof_does_not_cover_is_refused_as_a_wrong_proof_and_nothing_changes()
    {
        var (state, passphrase) = Registered();
        var (s1, ch) = Begin(state, T0 + 1);
        var before = Json(s1);
        var theirs = P256();
        // A relayed proof made for no key, or for the component's own key, presented with someone else's key.
        foreach (var proof in new[] { Proof(passphrase, ch, null), Proof(passphrase, ch, P256()) })
        {
            var refused = s1.Decide(new CompleteRegistration(Server, Vm, ch.Nonce, proof, T0 + 2, theirs));
            Assert.Equal(RegistrationRefusal.WrongPassphrase, refused.Refusal?.Reason);
            Assert.Contains("public key", refused.Refusal!.Message);
            Assert.Empty(refused.Events);
        }
        // The other way round: a proof covering a key, sent without it.
        Assert.Equal(RegistrationRefusal.WrongPassphrase, s1.Decide(new CompleteRegistration(Server, Vm, ch.Nonce, Proof(passphrase, ch, theirs), T0 + 2)).Refusal?.Reason);
        Assert.Equal(before, Json(s1));
    }

    public static TheoryData<string, string> BadKeys()
    {
        using var rsa1024 = RSA.Create(1024);
        using var p521 = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        using var good = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new()
        {
            { "", "is empty" },
            { "not base64!", "is not base64" },
            { Convert.ToBase64String([1, 2, 3, 4]), "is not a SubjectPublicKeyInfo" },
            { Convert.ToBase64String(rsa1024.ExportSubjectPublicKeyInfo()), "RSA key of 1024 bits" },
            { Convert.ToBase64String(p521.ExportSubjectPublicKeyInfo()), "P-256 or P-384 is required" },
            { Convert.ToBase64String([.. good.ExportSubjectPublicKeyInfo(), 0]), "bytes after" },
            { new string('A', 4096), "more than any supported key" },
        };
    }

    [Theory]
    [MemberData(nameof(BadKeys))]
    public void A_key_the_authority_does_not_certify_is_refused_by_name_before_the_proof(string key, string why)
    {
        var (state, passphrase) = Registered();
        var (s1, ch) = Begin(state, T0 + 1);
        var refused = s1.Decide(new CompleteRegistration(Server, Vm, ch.Nonce, Proof(passphrase, ch, null), T0 + 2, key));
        Assert.Equal(RegistrationRefusal.InvalidArgument, refused.Refusal?.Reason);
        Assert.Contains("PublicKey", refused.Refusal!.Message);
        Assert.Contains(why, refused.Refusal.Message);
        Assert.Empty(refused.Events);
        Assert.Null(ComponentKeys.Problem(P256()));
    }
}
