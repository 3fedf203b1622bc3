using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Passphrase storage and the challenge-response on the pure configuration-server state.</summary>
public sealed class PassphraseTests
{
    private const string Ps = "ps-1";

    private static (ConfigurationServerState State, List<IConfigurationServerEvent> Events, string Passphrase) Register()
    {
        var fresh = Secrets.NewPassphraseWithHash();
        var command = new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Internet, Endpoints, T0, fresh);
        var (state, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(
            ConfigurationServerState.Empty(Server), command);
        var reply = Assert.IsType<ConfigurationServerRegistered>(state.Reply(command, events.Count));
        Assert.True(reply.Passphrase.Length >= 16);
        return (state, events.ToList(), reply.Passphrase);
    }

    private static (ConfigurationServerState, RegistrationChallenge) Begin(ConfigurationServerState state, string component, long now, ComponentKind kind = ComponentKind.ProcessServer)
    {
        var command = new BeginRegistrationWithNonce(Server, component, kind, Secrets.NewNonce(), now);
        var (next, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(state, command);
        return (next, Assert.IsType<RegistrationChallenge>(next.Reply(command, events.Count)));
    }

    private static RegistrationDecision<IConfigurationServerEvent> Complete(
        ConfigurationServerState state, RegistrationChallenge ch, string passphrase, long now, string? component = null) =>
        state.Decide(new CompleteRegistration(Server, component ?? ch.ComponentId, ch.Nonce,
            PassphraseProof.Compute(passphrase, ch.SaltBase64, ch.Nonce, component ?? ch.ComponentId, ch.Iterations), now));

    [Fact]
    public void Passphrase_is_stored_only_as_a_salted_PBKDF2_hash()
    {
        var (state, events, passphrase) = Register();
        var hash = state.Passphrase!;
        Assert.True(hash.Iterations >= 100_000);
        Assert.Equal(16, Convert.FromBase64String(hash.SaltBase64).Length);
        Assert.Equal(hash.HashBase64,
            Convert.ToBase64String(PassphraseProof.DeriveKey(passphrase, Convert.FromBase64String(hash.SaltBase64), hash.Iterations)));
        AssertNoPassphrase(passphrase, Json(state));
        foreach (var e in events) AssertNoPassphrase(passphrase, Json(e));

        // Two registrations never share salt or passphrase.
        var (other, _, otherPassphrase) = Register();
        Assert.NotEqual(passphrase, otherPassphrase);
        Assert.NotEqual(hash.SaltBase64, other.Passphrase!.SaltBase64);
    }

    [Fact]
    public void Right_proof_registers_and_the_same_nonce_is_then_refused_NonceReplayed()
    {
        var (state, _, passphrase) = Register();
        var (s1, ch) = Begin(state, Ps, T0 + 1_000);
        Assert.Equal(T0 + 61_000, ch.ExpiresAtUnixMs);
        var ok = Complete(s1, ch, passphrase, T0 + 2_000);
        Assert.False(ok.IsRefused, ok.Refusal?.Message);
        var s2 = ok.Events.Aggregate(s1, (s, e) => s.Apply(e));
        AssertNoPassphrase(passphrase, string.Join("\n", ok.Events.Select(Json)));
        var view = Assert.Single(s2.ToView().Components);
        Assert.Equal(new RegisteredComponentView(Ps, ComponentKind.ProcessServer, T0 + 2_000, false), view);

        var replay = Complete(s2, ch, passphrase, T0 + 3_000);
        Assert.Equal(RegistrationRefusal.NonceReplayed, replay.Refusal?.Reason);
        Assert.Contains("Nonce", replay.Refusal!.Message);
        Assert.Empty(replay.Events);
    }

    [Fact]
    public void Wrong_passphrase_is_refused_and_changes_nothing()
    {
        var (state, _, passphrase) = Register();
        var (s1, ch) = Begin(state, Ps, T0);
        var before = Json(s1);
        var wrong = Complete(s1, ch, passphrase + "x", T0 + 1);
        Assert.Equal(RegistrationRefusal.WrongPassphrase, wrong.Refusal?.Reason);
        Assert.Contains("Proof", wrong.Refusal!.Message);
        Assert.Empty(wrong.Events);
        Assert.Equal(before, Json(s1));
        Assert.Equal(RegistrationRefusal.WrongPassphrase,
            s1.Decide(new CompleteRegistration(Server, Ps, ch.Nonce, "not base64 at all", T0 + 1)).Refusal?.Reason);
        // The nonce is still usable with the right passphrase (a refused attempt stores nothing).
        Assert.False(Complete(s1, ch, passphrase, T0 + 2).IsRefused);
    }

    [Fact]
    public void Nonce_expires_after_60_seconds_edge_both_sides()
    {
        var (state, _, passphrase) = Register();
        var (s1, ch) = Begin(state, Ps, T0);
        Assert.False(Complete(s1, ch, passphrase, T0 + 60_000).IsRefused);
        var late = Complete(s1, ch, passphrase, T0 + 60_001);
        Assert.Equal(RegistrationRefusal.NonceExpired, late.Refusal?.Reason);
        Assert.Empty(late.Events);
    }

    [Fact]
    public void Unknown_nonce_or_nonce_of_another_component_is_refused_NonceUnknown()
    {
        var (state, _, passphrase) = Register();
        var (s1, ch) = Begin(state, Ps, T0);
        Assert.Equal(RegistrationRefusal.NonceUnknown, Complete(s1, ch with { Nonce = "AAAA" }, passphrase, T0).Refusal?.Reason);
        Assert.Equal(RegistrationRefusal.NonceUnknown, Complete(s1, ch, passphrase, T0, component: "mt-9").Refusal?.Reason);
    }

    [Fact]
    public void Regenerate_makes_the_old_passphrase_useless_and_flags_every_component()
    {
        var (state, _, oldPassphrase) = Register();
        var (s1, chPs) = Begin(state, Ps, T0);
        s1 = Complete(s1, chPs, oldPassphrase, T0).Events.Aggregate(s1, (s, e) => s.Apply(e));
        var (s2, chMt) = Begin(s1, "mt-1", T0, ComponentKind.MasterTarget);
        s2 = Complete(s2, chMt, oldPassphrase, T0).Events.Aggregate(s2, (s, e) => s.Apply(e));
        var (_, pending) = Begin(s2, "ps-2", T0);

        var fresh = Secrets.NewPassphraseWithHash();
        var regen = new RegeneratePassphraseWith(Server, fresh, T0 + 5);
        var (s3, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(s2, regen);
        var reply = Assert.IsType<PassphraseRegenerated>(s3.Reply(regen, events.Count));
        Assert.Equal(2, reply.ComponentsFlagged);
        Assert.Equal(2, reply.Generation);
        Assert.All(s3.ToView().Components, c => Assert.True(c.NeedsReregistration));
        AssertNoPassphrase(fresh.Plaintext, Json(s3) + Json(Assert.Single(events)));

        // Old passphrase on a fresh challenge: refused. Challenges issued before regeneration are gone.
        var (s4, ch) = Begin(s3, Ps, T0 + 10);
        Assert.NotEqual(chPs.SaltBase64, ch.SaltBase64);
        Assert.Equal(RegistrationRefusal.WrongPassphrase, Complete(s4, ch, oldPassphrase, T0 + 11).Refusal?.Reason);
        Assert.Equal(RegistrationRefusal.NonceUnknown, Complete(s4, pending, oldPassphrase, T0 + 11).Refusal?.Reason);

        // The new passphrase re-registers and clears the flag for that component only.
        var ok = Complete(s4, ch, reply.Passphrase, T0 + 12);
        var s5 = ok.Events.Aggregate(s4, (s, e) => s.Apply(e));
        Assert.False(s5.Components[Ps].NeedsReregistration);
        Assert.True(s5.Components["mt-1"].NeedsReregistration);
    }

    [Fact]
    public void Proof_depends_on_nonce_component_and_passphrase()
    {
        var salt = Convert.ToBase64String(new byte[16]);
        var p = PassphraseProof.Compute("pass-phrase-123456", salt, "n1", "c1");
        Assert.Equal(p, PassphraseProof.Compute("pass-phrase-123456", salt, "n1", "c1"));
        Assert.NotEqual(p, PassphraseProof.Compute("pass-phrase-123456", salt, "n2", "c1"));
        Assert.NotEqual(p, PassphraseProof.Compute("pass-phrase-123456", salt, "n1", "c2"));
        Assert.NotEqual(p, PassphraseProof.Compute("pass-phrase-123457", salt, "n1", "c1"));
        Assert.NotEqual(p, PassphraseProof.Compute("pass-phrase-123456", Convert.ToBase64String(new byte[16] { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }), "n1", "c1"));
        // "n1" + "0c" must not collide with "n10" + "c": the separator keeps fields apart.
        Assert.NotEqual(PassphraseProof.Compute("pp-pp-pp-pp-pp-pp", salt, "n1", "0c"), PassphraseProof.Compute("pp-pp-pp-pp-pp-pp", salt, "n10", "c"));
    }
}
