using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>
/// Versions a component reports (<see cref="ProductVersion"/>) and the site's upgrade order: the configuration server
/// decides, purely, that a component newer than itself is refused and nothing is journaled.
/// </summary>
public sealed class ComponentVersionTests
{
    [Theory]
    [InlineData("1.0.0", "1.0.1")]
    [InlineData("1.0.9", "1.1.0")]
    [InlineData("1.9.9", "2.0.0")]
    [InlineData("1.0.0-alpha", "1.0.0")]
    [InlineData("1.0.0-alpha", "1.0.0-alpha.1")]
    [InlineData("1.0.0-alpha.1", "1.0.0-alpha.beta")]
    [InlineData("1.0.0-beta.2", "1.0.0-beta.11")]
    [InlineData("1.0.0-rc.1", "1.0.0")]
    [InlineData("9.0.0", "10.0.0")]
    public void Versions_order_by_precedence(string lower, string higher)
    {
        Assert.True(ProductVersion.Compare(lower, higher) < 0);
        Assert.True(ProductVersion.Compare(higher, lower) > 0);
        Assert.Equal(0, ProductVersion.Compare(higher, higher + "+build.7"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.0")]
    [InlineData("1.0.0.0")]
    [InlineData("a.b.c")]
    [InlineData("1.0.0-")]
    [InlineData("1.0.0-al pha")]
    [InlineData(" 1.0.0")]
    public void What_is_not_a_version_is_named(string text) =>
        Assert.Equal($"'{text}' is not a version (MAJOR.MINOR.PATCH, optionally -PRERELEASE)", ProductVersion.Problem(text));

    [Fact]
    public void This_build_has_a_version() => Assert.Null(ProductVersion.Problem(ProductVersion.Current));

    static (ConfigurationServerState State, string Passphrase) Registered()
    {
        var fresh = Secrets.NewPassphraseWithHash();
        var command = new RegisterWithVerifiedKey(Server, ValidVerdict(), Connectivity.Internet, Endpoints, T0, fresh);
        var (state, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(ConfigurationServerState.Empty(Server), command);
        return (state, Assert.IsType<ConfigurationServerRegistered>(state.Reply(command, events.Count)).Passphrase);
    }

    static (ConfigurationServerState, RegistrationChallenge) Begin(ConfigurationServerState state, string component, long now)
    {
        var command = new BeginRegistrationWithNonce(Server, component, ComponentKind.ProcessServer, Secrets.NewNonce(), now);
        var (next, events) = Run<ConfigurationServerState, IConfigurationServerCommand, IConfigurationServerEvent>(state, command);
        return (next, Assert.IsType<RegistrationChallenge>(next.Reply(command, events.Count)));
    }

    static CompleteRegistration Complete(string passphrase, RegistrationChallenge ch, string component, long now, ReportedVersions? versions) =>
        new(Server, component, ch.Nonce, PassphraseProof.Compute(passphrase, ch.SaltBase64, ch.Nonce, component, ch.Iterations, null), now, Versions: versions);

    [Fact]
    public void A_component_newer_than_its_configuration_server_is_refused_and_an_older_or_equal_one_is_recorded_with_its_version()
    {
        var (state, passphrase) = Registered();
        var (s1, ch) = Begin(state, "ps1", T0 + 1);

        var newer = s1.Decide(Complete(passphrase, ch, "ps1", T0 + 2, new ReportedVersions("2.1.0", "2.0.3")));
        Assert.True(newer.IsRefused);
        Assert.Empty(newer.Events);
        Assert.Equal(RegistrationRefusal.ComponentNewer, newer.Refusal!.Reason);
        Assert.Equal("ProcessServer 'ps1' is version 2.1.0, newer than its configuration server's 2.0.3: upgrade the configuration server first " +
                     "(the site's order: configuration server, then process servers, then master targets)", newer.Refusal.Message);

        var bad = s1.Decide(Complete(passphrase, ch, "ps1", T0 + 2, new ReportedVersions("2.1", "2.0.3")));
        Assert.Equal(RegistrationRefusal.InvalidArgument, bad.Refusal!.Reason);
        Assert.Contains("CompleteRegistration.Versions.Component '2.1' is not a version", bad.Refusal.Message);

        // The same nonce still completes (a refusal used nothing): an older component is fine and says its version.
        var older = s1.Decide(Complete(passphrase, ch, "ps1", T0 + 3, new ReportedVersions("2.0.3-rc.1", "2.0.3")));
        Assert.False(older.IsRefused, older.Refusal?.Message);
        Assert.Equal("2.0.3-rc.1", Assert.IsType<ComponentRegistered>(Assert.Single(older.Events)).Version);
        var s2 = older.Events.Aggregate(s1, (s, e) => s.Apply(e));
        Assert.Equal("2.0.3-rc.1", Assert.Single(s2.ToView().Components).Version);

        // A component from before versions reports none: taken as it is, its version unknown.
        var (s3, again) = Begin(s2, "ps2", T0 + 4);
        var legacy = s3.Decide(Complete(passphrase, again, "ps2", T0 + 5, null));
        Assert.False(legacy.IsRefused);
        Assert.Null(legacy.Events.Aggregate(s3, (s, e) => s.Apply(e)).ToView().Components.Single(c => c.ComponentId == "ps2").Version);
    }

    [Fact]
    public void An_event_journaled_before_versions_reads_with_no_version()
    {
        using var system = ActorTestNode.CreateSystem("version-serializer-tests");
        var serializer = new ControlJsonSerializer((ExtendedActorSystem)system);
        var e = new ComponentRegistered(Server, "ps", ComponentKind.ProcessServer, "n", T0);
        var json = Encoding.UTF8.GetString(serializer.ToBinary(e));
        Assert.Contains("Version", json);
        // What the journal holds from before: the same event without the field.
        var old = JsonNode.Parse(json)!.AsObject();
        old.Remove(old.Select(kv => kv.Key).Single(k => k.Equals("Version", StringComparison.OrdinalIgnoreCase)));
        var read = Assert.IsType<ComponentRegistered>(serializer.FromBinary(Encoding.UTF8.GetBytes(old.ToJsonString()), serializer.Manifest(e)));
        Assert.Equal(e, read);
        Assert.Null(read.Version);
    }
}
