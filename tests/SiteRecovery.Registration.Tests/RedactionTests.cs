using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Secrets never appear in ToString of commands, replies, events or states.</summary>
public sealed class RedactionTests
{
    [Fact]
    public void ToString_of_every_record_carrying_a_secret_redacts_it()
    {
        const string key = "srk1.vault-a.1.1700000000000.1700432000000.SECRETSIGNATUREabcdefghijklmnopqrstuvwxyz0";
        var passphrase = P1.Plaintext;
        var records = new (object Record, string Secret)[]
        {
            (new RegisterConfigurationServer(Server, key, Connectivity.Vpn, Endpoints, T0), key),
            (new VerifyRegistrationKey(Vault, key, T0), key),
            (new IssuedRegistrationKey(Vault, 1, T0, T0 + 1, key), key),
            (new ConfigurationServerRegistered(Server, Vault, 1, passphrase), passphrase),
            (new PassphraseRegenerated(Server, 2, 3, passphrase), passphrase),
            (P1, passphrase),
            (P1.Hash, P1.Hash.HashBase64),
            (new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Vpn, Endpoints, T0, P1), passphrase),
            (new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Vpn, Endpoints, T0, P1), P1.Hash.HashBase64),
            (new RegeneratePassphraseWith(Server, P1, T0), passphrase),
            (new CreateVaultWithSecret(Vault, VaultRegion.EastUs, SecretA), SecretA),
            (new VaultCreated(Vault, VaultRegion.EastUs, SecretA), SecretA),
            (CreatedVault(), SecretA),
            (RegisteredServer(), P1.Hash.HashBase64),
            (new ConfigurationServerRegisteredEvent(Server, Vault, 1, Connectivity.Vpn, Endpoints, T0, P1.Hash), P1.Hash.HashBase64),
            (new PassphraseRegeneratedEvent(Server, P1.Hash, T0), P1.Hash.HashBase64),
            (new CompleteRegistration(Server, "ps", "nonce", "PROOFVALUE", T0), "PROOFVALUE"),
        };

        foreach (var (record, secret) in records)
        {
            var text = record.ToString()!;
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.Contains(Redact.Marker, text);
            Assert.StartsWith(record.GetType().Name, text);
        }

        // Non-secret fields stay visible for diagnostics.
        Assert.Contains(Server, new RegisterConfigurationServer(Server, key, Connectivity.Vpn, Endpoints, T0).ToString());
        Assert.Contains("cs1.example.net:443", new RegisterConfigurationServer(Server, key, Connectivity.Vpn, Endpoints, T0).ToString());
    }
}
