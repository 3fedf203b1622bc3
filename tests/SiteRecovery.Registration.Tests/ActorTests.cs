using Akka.Actor;
using Akka.Event;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Akka.TestKit tests of the vault directory and regions on the in-memory journal, with debug logging on.</summary>
public sealed class ActorTests() : Akka.TestKit.Xunit2.TestKit(ActorTestNode.InMemory("""
    akka.loglevel = DEBUG
    akka.actor.debug.receive = on
    akka.actor.debug.unhandled = on
    akka.actor.debug.lifecycle = on
    """))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly EntitySettings Settings = new(2, null);

    private (IActorRef Directory, IActorRef Vaults, IActorRef Servers) Start()
    {
        var directory = Sys.ActorOf(VaultDirectory.Props(Settings));
        var vaults = Sys.ActorOf(VaultsRegion.Props(Settings, directory));
        return (directory, vaults, Sys.ActorOf(ConfigurationServersRegion.Props(Settings, vaults)));
    }

    private T Ask<T>(IActorRef target, object message) => target.Ask<T>(message, Wait).GetAwaiter().GetResult();

    [Fact]
    public void Full_registration_flow_and_no_secret_in_any_log_event()
    {
        var logs = new List<string>();
        var logProbe = CreateTestProbe();
        Sys.EventStream.Subscribe(logProbe.Ref, typeof(LogEvent));

        var (directory, vaults, servers) = Start();
        Assert.Equal(new RegistrationReply.Accepted(1), Ask<RegistrationReply>(vaults, new CreateVault(Vault, VaultRegion.NorthEurope)));
        Assert.Equal(new RegistrationReply.Accepted(0), Ask<RegistrationReply>(vaults, new CreateVault(Vault, VaultRegion.NorthEurope)));
        var view = Ask<VaultView>(vaults, new GetVault(Vault));
        Assert.True(view.Created);
        Assert.Equal(VaultRegion.NorthEurope, view.Region);
        AwaitAssert(() => Assert.Equal([Vault], Ask<VaultList>(directory, ListVaults.Instance).VaultNames), Wait);

        var key = Ask<RegistrationReply>(vaults, new IssueRegistrationKey(Vault, T0));
        var issued = Assert.IsType<IssuedRegistrationKey>(key);

        var registered = Assert.IsType<ConfigurationServerRegistered>(Ask<RegistrationReply>(servers,
            new RegisterConfigurationServer(Server, issued.Key, Connectivity.Internet, Endpoints, T0 + 1)));
        Assert.Equal(Vault, registered.VaultName);
        Assert.True(registered.Passphrase.Length >= 16);

        var challenge = Assert.IsType<RegistrationChallenge>(Ask<RegistrationReply>(servers, new BeginRegistration(Server, "ps-1", ComponentKind.ProcessServer, T0 + 2)));
        var proof = PassphraseProof.Compute(registered.Passphrase, challenge.SaltBase64, challenge.Nonce, "ps-1", challenge.Iterations);
        Assert.IsType<ComponentRegistrationCompleted>(Ask<RegistrationReply>(servers, new CompleteRegistration(Server, "ps-1", challenge.Nonce, proof, T0 + 3)));
        var replay = Assert.IsType<RegistrationReply.Refused>(Ask<RegistrationReply>(servers, new CompleteRegistration(Server, "ps-1", challenge.Nonce, proof, T0 + 4)));
        Assert.Equal(RegistrationRefusal.NonceReplayed, replay.Reason);

        var regenerated = Assert.IsType<PassphraseRegenerated>(Ask<RegistrationReply>(servers, new RegeneratePassphrase(Server, T0 + 5)));
        Assert.Equal(1, regenerated.ComponentsFlagged);
        Assert.NotEqual(registered.Passphrase, regenerated.Passphrase);
        var csView = Ask<ConfigurationServerView>(servers, new GetConfigurationServer(Server));
        Assert.Equal(2, csView.PassphraseGeneration);
        Assert.True(Assert.Single(csView.Components).NeedsReregistration);

        var c2 = Assert.IsType<RegistrationChallenge>(Ask<RegistrationReply>(servers, new BeginRegistration(Server, "ps-1", ComponentKind.ProcessServer, T0 + 6)));
        var oldProof = PassphraseProof.Compute(registered.Passphrase, c2.SaltBase64, c2.Nonce, "ps-1", c2.Iterations);
        Assert.Equal(RegistrationRefusal.WrongPassphrase,
            Assert.IsType<RegistrationReply.Refused>(Ask<RegistrationReply>(servers, new CompleteRegistration(Server, "ps-1", c2.Nonce, oldProof, T0 + 7))).Reason);

        Assert.Equal(new RegistrationReply.Accepted(1), Ask<RegistrationReply>(servers, new ChangeConnectivity(Server, Connectivity.Vpn, ["vpn.local:443"])));
        Assert.Equal(Connectivity.Vpn, Ask<ConfigurationServerView>(servers, new GetConfigurationServer(Server)).Connectivity);

        logProbe.ReceiveWhile(TimeSpan.FromMilliseconds(500), o => { logs.Add(o.ToString()!); return o; });
        Assert.NotEmpty(logs); // debug logging really was on
        var all = string.Join("\n", logs);
        foreach (var secret in new[] { registered.Passphrase, regenerated.Passphrase, issued.Key, issued.Key.Split('.')[5] })
            Assert.DoesNotContain(secret, all, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_server_refuses_bad_keys_through_the_vault_and_stores_nothing()
    {
        var (_, vaults, servers) = Start();
        Ask<RegistrationReply>(vaults, new CreateVault(Vault, VaultRegion.WestEurope));
        Ask<RegistrationReply>(vaults, new CreateVault(OtherVault, VaultRegion.WestEurope));
        var key = Assert.IsType<IssuedRegistrationKey>(Ask<RegistrationReply>(vaults, new IssueRegistrationKey(Vault, T0))).Key;
        var otherKey = Assert.IsType<IssuedRegistrationKey>(Ask<RegistrationReply>(vaults, new IssueRegistrationKey(OtherVault, T0))).Key;
        var fiveDays = (long)TimeSpan.FromDays(5).TotalMilliseconds;

        RegistrationRefusal Refusal(string id, string k, long now) =>
            Assert.IsType<RegistrationReply.Refused>(Ask<RegistrationReply>(servers,
                new RegisterConfigurationServer(id, k, Connectivity.Internet, Endpoints, now))).Reason;

        Assert.Equal(RegistrationRefusal.KeyExpired, Refusal("cs-x", key, T0 + fiveDays + 1));
        var tampered = key[..^1] + (key[^1] == 'A' ? 'B' : 'A');
        Assert.Equal(RegistrationRefusal.KeyTampered, Refusal("cs-x", tampered, T0));
        Assert.Equal(RegistrationRefusal.KeyMalformed, Refusal("cs-x", "not-a-key", T0));
        Assert.Equal(RegistrationRefusal.KeyForeignVault, Refusal("cs-x", key.Replace(Vault, "vault-zz"), T0));
        Assert.Equal(RegistrationRefusal.InvalidArgument, Refusal("cs-x", key, -5));
        Assert.False(Ask<ConfigurationServerView>(servers, new GetConfigurationServer("cs-x")).Registered);

        Assert.IsType<ConfigurationServerRegistered>(Ask<RegistrationReply>(servers,
            new RegisterConfigurationServer("cs-x", key, Connectivity.Internet, Endpoints, T0 + fiveDays)));
        Assert.Equal(RegistrationRefusal.KeyForeignVault, Refusal("cs-x", otherKey, T0));
        Assert.Equal(RegistrationRefusal.AlreadyExists, Refusal("cs-x", key, T0));

        Ask<RegistrationReply>(vaults, new RevokeRegistrationKey(Vault, 1));
        Assert.Equal(RegistrationRefusal.KeyRevoked, Refusal("cs-y", key, T0));
        Assert.Equal(RegistrationRefusal.NotFound,
            Assert.IsType<RegistrationReply.Refused>(Ask<RegistrationReply>(servers, new BeginRegistration("cs-y", "ps", ComponentKind.ProcessServer, T0))).Reason);
    }

    [Fact]
    public void Unanswered_key_verification_is_refused_VaultUnavailable()
    {
        var silentVaults = CreateTestProbe();
        var servers = Sys.ActorOf(ConfigurationServersRegion.Props(Settings, silentVaults.Ref));
        servers.Tell(new RegisterConfigurationServer(Server, RegistrationKeysFor(), Connectivity.Vpn, Endpoints, T0));
        silentVaults.ExpectMsg<VerifyRegistrationKey>(Wait);
        var refused = ExpectMsg<RegistrationReply.Refused>(TimeSpan.FromSeconds(15));
        Assert.Equal(RegistrationRefusal.VaultUnavailable, refused.Reason);
    }

    private static string RegistrationKeysFor() =>
        RegistrationKeys.Sign(Vault, 1, T0, T0 + 1, SecretA);
}
