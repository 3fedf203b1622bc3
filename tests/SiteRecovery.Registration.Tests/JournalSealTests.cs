using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>A vault's signing secret never reaches the journal in clear: events and snapshots carry it sealed.</summary>
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
