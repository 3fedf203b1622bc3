using Akka.Actor;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Every registration event and snapshot round-trips through the manifest serializer and is tagged.</summary>
public sealed class SerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("reg-serializer-tests");

    private static readonly IRegistrationEvent[] Samples =
    [
        new VaultCreated(Vault, VaultRegion.EastUs, SecretA),
        new RegistrationKeyIssued(Vault, 1, T0, T0 + 5),
        new RegistrationKeyRevoked(Vault, 1),
        new VaultListed(Vault, VaultRegion.EastUs),
        new ConfigurationServerRegisteredEvent(Server, Vault, 1, Connectivity.Vpn, Endpoints, T0, P1.Hash),
        new PassphraseRegeneratedEvent(Server, P2.Hash, T0),
        new ConnectivityChanged(Server, Connectivity.Internet, Endpoints),
        new RegistrationChallengeIssued(Server, "ps", ComponentKind.ProcessServer, "n", T0, T0 + 60_000),
        new ComponentRegistered(Server, "ps", ComponentKind.ProcessServer, "n", T0),
        new ComponentRegisteredWithKey(Server, "vm1", ComponentKind.Agent, "n2", T0, new string('a', 64), "1.4.0"),
        new ComponentVersionReported(Server, "vm1", "1.4.1", T0 + 3),
        new ComponentCertificateIssued(Server, "vm1", ComponentKind.Agent, "4A01", "CN=ca", new string('a', 64), T0, T0 + 10, T0, CertificateIssuance.Registration, "n2"),
        new ComponentCertificatesRevoked(Server, "vm1", [new RevokedCertificate("4A01", "CN=ca", T0 + 10)], CertificateRevocationReason.KeyReplaced, T0 + 1),
        new ComponentRemoved(Server, "vm1", ComponentKind.Agent, T0 + 2),
        new RenewalChallengeIssued(Server, "vm1", ComponentKind.Agent, "n3", T0, T0 + 60_000),
    ];

    [Fact]
    public void Every_registration_event_round_trips_and_is_tagged()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        var registered = ControlManifestRegistry.EventTypes.Where(t => typeof(IRegistrationEvent).IsAssignableFrom(t)).ToHashSet();
        Assert.Equal(registered, Samples.Select(s => s.GetType()).ToHashSet());
        foreach (var e in Samples)
        {
            var manifest = serializer.Manifest(e);
            Assert.Matches(@"\.v[12]$", manifest);
            Assert.Equal(Json(e), Json(serializer.FromBinary(serializer.ToBinary(e), manifest)));
            Assert.Single(ControlTags.For(e));
        }

        Assert.Equal([RegistrationTags.Vault], ControlTags.For(Samples[0]));
        Assert.Equal([RegistrationTags.VaultDirectory], ControlTags.For(Samples[3]));
        Assert.Equal([RegistrationTags.ConfigurationServer], ControlTags.For(Samples[4]));
    }

    [Fact]
    public void Registration_snapshots_round_trip()
    {
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)_system);
        var cs = RegisteredServer()
            .Apply(new RegistrationChallengeIssued(Server, "ps", ComponentKind.ProcessServer, "n", T0, T0 + 60_000))
            .Apply(new ComponentRegistered(Server, "ps", ComponentKind.ProcessServer, "n", T0))
            .Apply(new ComponentCertificateIssued(Server, "ps", ComponentKind.ProcessServer, "4A01", "CN=ca", new string('a', 64), T0, T0 + 10, T0, CertificateIssuance.Registration, "n"))
            .Apply(new ComponentCertificatesRevoked(Server, "ps", [new RevokedCertificate("4A01", "CN=ca", T0 + 10)], CertificateRevocationReason.ComponentRemoved, T0 + 1));
        object[] states =
        [
            CreatedVault().Apply(new RegistrationKeyIssued(Vault, 1, T0, T0 + 5)).Apply(new RegistrationKeyRevoked(Vault, 1)),
            VaultDirectoryState.Empty.Apply(new VaultListed(Vault, VaultRegion.EastUs)),
            cs,
        ];
        foreach (var s in states)
        {
            var back = serializer.FromBinary(serializer.ToBinary(s), serializer.Manifest(s));
            Assert.Equal(Json(s), Json(back));
        }
    }

    public void Dispose() => _system.Dispose();
}
