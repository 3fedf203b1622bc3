using Akka.Actor;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Recovery from a real journal (SQLite, PostgreSQL): the secret, the hash, used nonces and the directory survive.</summary>
public abstract class JournalRecoveryTests
{
    private static readonly EntitySettings Entities = new(3, TimeSpan.FromMinutes(5));

    protected abstract PersistenceSettings Persistence { get; }

    private readonly string _run = Guid.NewGuid().ToString("N")[..8];

    private Task<ActorTestNode> StartAsync() => ActorTestNode.StartAsync(Persistence, Entities, b => b.AddRegistrationActors(Entities));

    [Fact]
    public async Task Registration_state_is_recovered_after_the_actor_system_restarts()
    {
        var vault = $"v-{_run}";
        var server = $"cs-{_run}";
        string key, passphrase;
        RegistrationChallenge used;

        await using (var node = await StartAsync())
        {
            Assert.Equal(new RegistrationReply.Accepted(1), await node.Ask<VaultsRegion, RegistrationReply>(new CreateVault(vault, VaultRegion.UkSouth)));
            key = Assert.IsType<IssuedRegistrationKey>(await node.Ask<VaultsRegion, RegistrationReply>(new IssueRegistrationKey(vault, T0))).Key;
            Assert.IsType<IssuedRegistrationKey>(await node.Ask<VaultsRegion, RegistrationReply>(new IssueRegistrationKey(vault, T0)));
            Assert.Equal(new RegistrationReply.Accepted(1), await node.Ask<VaultsRegion, RegistrationReply>(new RevokeRegistrationKey(vault, 2)));
            passphrase = Assert.IsType<ConfigurationServerRegistered>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(
                new RegisterConfigurationServer(server, key, Connectivity.Vpn, Endpoints, T0 + 1))).Passphrase;
            used = Assert.IsType<RegistrationChallenge>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(
                new BeginRegistration(server, "mt-1", ComponentKind.MasterTarget, T0 + 2)));
            Assert.IsType<ComponentRegistrationCompleted>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(new CompleteRegistration(
                server, "mt-1", used.Nonce, PassphraseProof.Compute(passphrase, used.SaltBase64, used.Nonce, "mt-1", used.Iterations), T0 + 3)));
            var directory = await node.Registry.GetAsync<VaultDirectory>();
            await WaitFor(async () => (await directory.Ask<VaultList>(ListVaults.Instance)).VaultNames.Contains(vault));
        }

        await using (var node = await StartAsync())
        {
            var vaultView = await node.Ask<VaultsRegion, VaultView>(new GetVault(vault));
            Assert.True(vaultView.Created);
            Assert.Equal(VaultRegion.UkSouth, vaultView.Region);
            Assert.Equal(2, vaultView.KeysIssued);
            Assert.Equal([2L], vaultView.RevokedKeyIds);
            var directory = await node.Registry.GetAsync<VaultDirectory>();
            Assert.Contains(vault, (await directory.Ask<VaultList>(ListVaults.Instance)).VaultNames);

            var view = await node.Ask<ConfigurationServersRegion, ConfigurationServerView>(new GetConfigurationServer(server));
            Assert.True(view.Registered);
            Assert.Equal(vault, view.VaultName);
            Assert.Equal(Connectivity.Vpn, view.Connectivity);
            Assert.Equal(Endpoints, view.Endpoints);
            Assert.Equal(new RegisteredComponentView("mt-1", ComponentKind.MasterTarget, T0 + 3, false), Assert.Single(view.Components));

            // The used nonce stays used; the recovered hash still verifies the passphrase; the recovered secret still verifies the key.
            var proof = PassphraseProof.Compute(passphrase, used.SaltBase64, used.Nonce, "mt-1", used.Iterations);
            Assert.Equal(RegistrationRefusal.NonceReplayed, Assert.IsType<RegistrationReply.Refused>(
                await node.Ask<ConfigurationServersRegion, RegistrationReply>(new CompleteRegistration(server, "mt-1", used.Nonce, proof, T0 + 4))).Reason);
            var fresh = Assert.IsType<RegistrationChallenge>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(
                new BeginRegistration(server, "ps-1", ComponentKind.ProcessServer, T0 + 5)));
            Assert.IsType<ComponentRegistrationCompleted>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(new CompleteRegistration(
                server, "ps-1", fresh.Nonce, PassphraseProof.Compute(passphrase, fresh.SaltBase64, fresh.Nonce, "ps-1", fresh.Iterations), T0 + 6)));
            Assert.IsType<ConfigurationServerRegistered>(await node.Ask<ConfigurationServersRegion, RegistrationReply>(
                new RegisterConfigurationServer(server + "-2", key, Connectivity.Internet, Endpoints, T0 + 7)));
        }
    }

    private static async Task WaitFor(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            if (await condition()) return;
            await Task.Delay(50);
        }

        Assert.Fail("condition not met within 5 s");
    }
}

public sealed class SqliteJournalRecoveryTests : JournalRecoveryTests, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-registration-tests", Guid.NewGuid().ToString("N"));

    protected override PersistenceSettings Persistence => PersistenceSettings.Sqlite(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

public sealed class PostgresJournalRecoveryTests : JournalRecoveryTests, IDisposable
{
    private readonly PostgresDatabase _database = new();

    protected override PersistenceSettings Persistence => PersistenceSettings.Postgres(_database.ConnectionString);

    public void Dispose() => _database.Dispose();
}
