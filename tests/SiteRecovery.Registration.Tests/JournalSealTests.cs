using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>A vault's signing secret and a passphrase's hash never reach the journal in clear: events and snapshots carry them sealed.</summary>
public sealed class JournalSealTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("journal-seal-tests");

    public void Dispose() => _system.Dispose();

    [Fact]
    public void The_vault_event_and_snapshot_hold_the_secret_sealed_and_read_back_to_the_same_secret()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        object[] persisted =
        [
            new VaultCreated(Vault, VaultRegion.EastUs, SecretA),
            VaultState.Empty(Vault).Apply(new VaultCreated(Vault, VaultRegion.EastUs, SecretA)),
        ];
        foreach (var item in persisted)
        {
            var bytes = serializer.ToBinary(item);
            var text = Encoding.UTF8.GetString(bytes);
            Assert.DoesNotContain(SecretA, text);
            Assert.Contains(JournalSeal.Prefix, text);
            var back = serializer.FromBinary(bytes, serializer.Manifest(item));
            Assert.Equal(SecretA, back switch { VaultCreated e => e.SigningSecretBase64, VaultState s => s.SigningSecretBase64, _ => null });
            // Deterministic, so a state serialized twice compares equal; another secret seals to another text.
            Assert.Equal(text, Encoding.UTF8.GetString(serializer.ToBinary(item)));
        }
    }

    [Fact]
    public void A_passphrase_hash_which_answers_challenges_is_journaled_sealed_in_events_and_state()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        object[] persisted =
        [
            new ConfigurationServerRegisteredEvent(Server, Vault, 1, Connectivity.Vpn, Endpoints, T0, P1.Hash),
            new PassphraseRegeneratedEvent(Server, P1.Hash, T0),
            RegisteredServer(),
        ];
        foreach (var item in persisted)
        {
            var bytes = serializer.ToBinary(item);
            var text = Encoding.UTF8.GetString(bytes);
            Assert.DoesNotContain(P1.Hash.HashBase64, text);
            Assert.Contains(P1.Hash.SaltBase64, text);
            Assert.Contains(JournalSeal.Prefix, text);
            var back = serializer.FromBinary(bytes, serializer.Manifest(item));
            Assert.Equal(P1.Hash, back switch
            {
                ConfigurationServerRegisteredEvent e => e.Passphrase,
                PassphraseRegeneratedEvent e => e.Passphrase,
                ConfigurationServerState s => s.Passphrase,
                _ => null,
            });
        }
    }

    [Fact]
    public void A_secret_journaled_in_clear_before_sealing_existed_still_reads_back()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        var clear = Encoding.UTF8.GetBytes($"{{\"VaultName\":\"{Vault}\",\"Region\":\"EastUs\",\"SigningSecretBase64\":\"{SecretA}\"}}");
        var back = (VaultCreated)serializer.FromBinary(clear, "vault-created.v1");
        Assert.Equal(SecretA, back.SigningSecretBase64);
    }

    [Fact]
    public void A_sealed_secret_opened_with_another_key_or_altered_is_refused_by_name()
    {
        var key = RandomNumberGenerator.GetBytes(JournalSeal.KeyBytes);
        var other = RandomNumberGenerator.GetBytes(JournalSeal.KeyBytes);
        var sealedText = JournalSeal.Seal(SecretA, key);
        Assert.Equal(SecretA, JournalSeal.Open(sealedText, key));
        Assert.NotEqual(sealedText, JournalSeal.Seal(SecretA + "x", key));
        Assert.NotEqual(sealedText, JournalSeal.Seal(SecretA, other));
        Assert.Contains("journal key", Assert.Throws<CryptographicException>(() => JournalSeal.Open(sealedText, other)).Message);

        var raw = Convert.FromBase64String(sealedText[JournalSeal.Prefix.Length..]);
        raw[^1] ^= 1;
        Assert.Throws<CryptographicException>(() => JournalSeal.Open(JournalSeal.Prefix + Convert.ToBase64String(raw), key));
        Assert.Throws<CryptographicException>(() => JournalSeal.Open(JournalSeal.Prefix + "not-base64!", key));
        Assert.Throws<CryptographicException>(() => JournalSeal.Open(JournalSeal.Prefix + "AAAA", key));
        Assert.Throws<ArgumentException>(() => JournalSeal.Configure(new byte[16]));
    }
}
