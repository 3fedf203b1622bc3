using System.Text;
using System.Text.Json;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Registration.Tests;

/// <summary>Fixed secrets and passphrases (PBKDF2 at 100k iterations is computed once per test run).</summary>
internal static class Fixtures
{
    public const string Vault = "vault-a";
    public const string OtherVault = "vault-b";
    public const string Server = "cs-1";
    public const long T0 = 1_700_000_000_000;
    public static readonly string[] Endpoints = ["cs1.example.net:443", "10.0.0.4:9443"];

    public static readonly string SecretA = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    public static readonly string SecretB = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());

    public static readonly NewPassphrase P1 = NewPassphrase.From("Correct-Horse-Battery-1", Enumerable.Repeat((byte)7, 16).ToArray());
    public static readonly NewPassphrase P2 = NewPassphrase.From("Second-Passphrase-Xyz-2", Enumerable.Repeat((byte)9, 16).ToArray());

    public static VaultState CreatedVault(string name = Vault, string? secret = null) =>
        VaultState.Empty(name).Apply(new VaultCreated(name, VaultRegion.WestEurope, secret ?? SecretA));

    public static RegistrationKeyVerdict ValidVerdict(string vault = Vault, long keyId = 1) => new(vault, keyId, null);

    public static ConfigurationServerState RegisteredServer(NewPassphrase? p = null) =>
        ConfigurationServerState.Empty(Server).Apply(new ConfigurationServerRegisteredEvent(
            Server, Vault, 1, Connectivity.Internet, Endpoints, T0, (p ?? P1).Hash));

    public static string Proof(NewPassphrase p, string nonce, string componentId) =>
        PassphraseProof.FromDerivedKey(Convert.FromBase64String(p.Hash.HashBase64), nonce, componentId);

    public static string Json(object o) => JsonSerializer.Serialize(o, o.GetType(), ControlJsonSerializer.Options);

    /// <summary>Decides and applies; fails if refused.</summary>
    public static (TState State, IReadOnlyList<TEvent> Events) Run<TState, TCommand, TEvent>(TState state, TCommand command)
        where TState : class, IRegistrationState<TState, TCommand, TEvent>
    {
        var d = state.Decide(command);
        Assert.False(d.IsRefused, $"{command} refused: {d.Refusal}");
        return (d.Events.Aggregate(state, (s, e) => s.Apply(e)), d.Events);
    }

    /// <summary>Asserts the passphrase (as text, UTF-8 bytes and base64) appears nowhere in <paramref name="text"/>.</summary>
    public static void AssertNoPassphrase(string passphrase, string text)
    {
        Assert.DoesNotContain(passphrase, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(passphrase)), text, StringComparison.Ordinal);
    }
}
