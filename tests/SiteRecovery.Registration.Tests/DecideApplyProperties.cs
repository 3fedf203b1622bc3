using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>FsCheck properties straight on the pure Decide/Apply of Vault, VaultDirectory and ConfigurationServer.</summary>
public sealed class DecideApplyProperties
{
    // ---------- generators ----------
    private static readonly Gen<IVaultCommand> VaultCommand = Gen.Frequency(
        (2, from name in Gen.Elements(Vault, "x", "1vault", Vault)
            from region in Gen.Elements(VaultRegion.WestEurope, VaultRegion.EastUs, (VaultRegion)99)
            from secret in Gen.Elements(SecretA, SecretB, "not-base64!", "")
            select (IVaultCommand)new CreateVaultWithSecret(name, region, secret)),
        (4, Gen.Choose(-1, 1000).Select(t => (IVaultCommand)new IssueRegistrationKey(Vault, t))),
        (2, Gen.Choose(-1, 6).Select(k => (IVaultCommand)new RevokeRegistrationKey(Vault, k))));

    private static readonly string[] Nonces = ["n0", "n1", "n2", "n3", "n4", "n5"];
    private static readonly string[] ComponentIds = ["ps-1", "mt-1", "ps-2", ""];

    private static readonly Gen<IConfigurationServerCommand> ServerCommand = Gen.Frequency(
        (1, from verdict in Gen.Elements(
                ValidVerdict(), ValidVerdict(OtherVault, 3),
                new RegistrationKeyVerdict(Vault, 1, new(RegistrationRefusal.KeyExpired, "expired")),
                new RegistrationKeyVerdict(Vault, 1, new(RegistrationRefusal.KeyTampered, "tampered")))
            from endpoints in Gen.Elements<string[]>(Endpoints, [], ["nohost"], ["a:1"])
            from conn in Gen.Elements(Connectivity.Internet, Connectivity.Vpn, (Connectivity)9)
            select (IConfigurationServerCommand)new RegisterWithVerifiedKey(Server, verdict, conn, endpoints, T0, P1)),
        (1, Gen.Elements(P1, P2).Select(p => (IConfigurationServerCommand)new RegeneratePassphraseWith(Server, p, T0 + 10))),
        (1, from endpoints in Gen.Elements<string[]>(Endpoints, ["b:2"], ["bad:0"], [])
            from conn in Gen.Elements(Connectivity.Internet, Connectivity.Vpn, (Connectivity)9)
            select (IConfigurationServerCommand)new ChangeConnectivity(Server, conn, endpoints)),
        (4, from comp in Gen.Elements(ComponentIds)
            from kind in Gen.Elements(ComponentKind.ProcessServer, ComponentKind.MasterTarget, (ComponentKind)5)
            from nonce in Gen.Elements(Nonces)
            from now in Gen.Choose(0, 1_000_000)
            select (IConfigurationServerCommand)new BeginRegistrationWithNonce(Server, comp, kind, nonce, T0 + now)),
        (5, from comp in Gen.Elements(ComponentIds)
            from nonce in Gen.Elements(Nonces)
            from proof in Gen.Elements("right-p1", "right-p2", "garbage", "")
            from now in Gen.Choose(0, 1_000_000)
            select (IConfigurationServerCommand)new CompleteRegistration(Server, comp, nonce,
                proof switch { "right-p1" => Proof(P1, nonce, comp), "right-p2" => Proof(P2, nonce, comp), _ => proof }, T0 + now)));

    private static readonly Gen<RecordVault> DirectoryCommand =
        from name in Gen.Elements("vault-a", "vault-b", "x", "9bad", "vault-c")
        from region in Gen.Elements(VaultRegion.WestEurope, VaultRegion.JapanEast)
        select new RecordVault(name, region);

    private static Arbitrary<T[]> Sequences<T>(Gen<T> gen) => Gen.ArrayOf(gen).ToArbitrary();

    // ---------- generic checker ----------
    private static void Check<TState, TCommand, TEvent>(TState empty, IEnumerable<TCommand> commands, Action<TState, TState, TCommand> invariant)
        where TState : class, IRegistrationState<TState, TCommand, TEvent>
    {
        var state = empty;
        var emitted = new List<TEvent>();
        foreach (var command in commands)
        {
            var before = Json(state);
            var decision = state.Decide(command);
            Assert.Equal(before, Json(state)); // Decide never mutates
            if (decision.Refusal is { } refused)
            {
                Assert.Empty(decision.Events);
                Assert.False(string.IsNullOrWhiteSpace(refused.Message), $"refusal of {command} has no message");
                continue;
            }

            var next = decision.Events.Aggregate(state, (s, e) => s.Apply(e));
            invariant(state, next, command);
            Assert.True(next.Reply(command, decision.Events.Count).IsAccepted);
            emitted.AddRange(decision.Events);
            state = next;
        }

        var replayed = emitted.Aggregate(empty, (s, e) => s.Apply(e));
        Assert.Equal(Json(state), Json(replayed));
    }

    // ---------- properties ----------
    [Property(MaxTest = 300)]
    public Property Vault_never_reaches_an_invalid_state() =>
        Prop.ForAll(Sequences(VaultCommand), commands =>
            Check<VaultState, IVaultCommand, IVaultEvent>(VaultState.Empty(Vault), commands, (before, after, _) =>
            {
                Assert.True(after.Created);
                Assert.True(RegistrationRules.IsVaultName(after.VaultName));
                Assert.True(after.Region is { } r && Enum.IsDefined(r));
                Assert.Contains(after.SigningSecretBase64, new[] { SecretA, SecretB });
                if (before.Created)
                {
                    Assert.Equal(before.SigningSecretBase64, after.SigningSecretBase64);
                    Assert.Equal(before.Region, after.Region);
                }

                Assert.True(after.KeysIssued >= before.KeysIssued);
                Assert.True(before.RevokedKeyIds.IsSubsetOf(after.RevokedKeyIds));
                Assert.All(after.RevokedKeyIds, k => Assert.InRange(k, 1, after.KeysIssued));
            }));

    [Property(MaxTest = 300)]
    public Property Vault_directory_lists_only_valid_names_and_never_forgets() =>
        Prop.ForAll(Sequences(DirectoryCommand), commands =>
        {
            var state = VaultDirectoryState.Empty;
            var emitted = new List<VaultListed>();
            foreach (var c in commands)
            {
                var d = state.Decide(c);
                if (d.IsRefused)
                {
                    Assert.Empty(d.Events);
                    Assert.Contains("VaultName", d.Refusal!.Message);
                    continue;
                }

                var next = d.Events.Aggregate(state, (s, e) => s.Apply(e));
                Assert.True(state.Vaults.Keys.All(next.Vaults.ContainsKey));
                Assert.All(next.Vaults.Keys, n => Assert.True(RegistrationRules.IsVaultName(n)));
                Assert.Empty(next.Decide(c).Events); // recording again is a no-op
                emitted.AddRange(d.Events);
                state = next;
            }

            Assert.Equal(Json(state), Json(emitted.Aggregate(VaultDirectoryState.Empty, (s, e) => s.Apply(e))));
        });

    [Property(MaxTest = 300)]
    public Property ConfigurationServer_never_reaches_an_invalid_state() =>
        Prop.ForAll(Sequences(ServerCommand), commands =>
            Check<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(
                ConfigurationServerState.Empty(Server), commands, (before, after, command) =>
                {
                    Assert.True(after.Registered);
                    Assert.Contains(after.VaultName, new[] { Vault, OtherVault });
                    if (before.Registered) Assert.Equal(before.VaultName, after.VaultName);
                    Assert.True(after.Connectivity is { } c && Enum.IsDefined(c));
                    Assert.Null(RegistrationRules.Endpoints("x", after.Endpoints));
                    Assert.NotNull(after.Passphrase);
                    Assert.True(after.Passphrase!.Iterations >= PassphraseProof.MinIterations);
                    Assert.True(after.PassphraseGeneration >= 1 && after.PassphraseGeneration >= before.PassphraseGeneration);
                    Assert.All(after.Challenges.Values, ch =>
                    {
                        Assert.Equal(ch.IssuedAtUnixMs + ConfigurationServerState.NonceLifetimeMs, ch.ExpiresAtUnixMs);
                        Assert.True(RegistrationRules.IsId(ch.ComponentId));
                    });
                    Assert.All(after.Components, kv => Assert.True(RegistrationRules.IsId(kv.Key) && Enum.IsDefined(kv.Value.Kind)));
                    Assert.True(before.Components.Keys.All(after.Components.ContainsKey), "a registered component was lost");
                    if (command is RegeneratePassphraseWith)
                        Assert.All(after.Components.Values, v => Assert.True(v.NeedsReregistration));
                    if (command is CompleteRegistration done)
                    {
                        // Only a proof made with the current passphrase registers, on a fresh nonce of the same component.
                        var current = after.Passphrase.HashBase64 == P1.Hash.HashBase64 ? P1 : P2;
                        Assert.Equal(Proof(current, done.Nonce, done.ComponentId), done.Proof);
                        Assert.False(before.Challenges[done.Nonce].Used);
                        Assert.True(after.Challenges[done.Nonce].Used);
                        Assert.False(after.Components[done.ComponentId].NeedsReregistration);
                    }

                    var json = Json(after);
                    AssertNoPassphrase(P1.Plaintext, json);
                    AssertNoPassphrase(P2.Plaintext, json);
                }));
}
