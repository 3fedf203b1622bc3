using SiteRecovery.Actors.Control.ConfigurationServer;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Actors.Control.Vault;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Registration.Tests.Fixtures;

namespace SiteRecovery.Registration.Tests;

/// <summary>Every command with an invalid field is refused naming the field and the rule; limits tested on both sides.</summary>
public sealed class ValidationTests
{
    private static void AssertInvalid<TEvent>(RegistrationDecision<TEvent> d, string field, string rule)
    {
        Assert.Equal(RegistrationRefusal.InvalidArgument, d.Refusal?.Reason);
        Assert.Empty(d.Events);
        Assert.Contains(field, d.Refusal!.Message);
        Assert.Contains(rule, d.Refusal.Message);
    }

    private static RegistrationDecision<IVaultEvent> Create(string name, VaultRegion region = VaultRegion.EastUs, string? secret = null) =>
        VaultState.Empty(name).Decide(new CreateVaultWithSecret(name, region, secret ?? SecretA));

    [Theory]
    [InlineData("ab")]
    [InlineData("a1")]
    [InlineData("a-")]
    [InlineData("Vault-2-West")]
    public void Vault_names_at_the_lower_edge_and_with_allowed_chars_are_accepted(string name) => Assert.False(Create(name).IsRefused);

    [Fact]
    public void Vault_name_length_edges()
    {
        Assert.False(Create("v" + new string('a', 49)).IsRefused);
        AssertInvalid(Create("v" + new string('a', 50)), "CreateVault.VaultName", RegistrationRules.VaultNameRule);
        AssertInvalid(Create("v"), "CreateVault.VaultName", RegistrationRules.VaultNameRule);
        AssertInvalid(Create(""), "CreateVault.VaultName", RegistrationRules.VaultNameRule);
    }

    [Theory]
    [InlineData("1a")]
    [InlineData("-a")]
    [InlineData("a_b")]
    [InlineData("a.b")]
    [InlineData("a b")]
    [InlineData("vä")]
    public void Vault_names_with_bad_chars_are_refused(string name) => AssertInvalid(Create(name), "CreateVault.VaultName", "starting with a letter");

    [Fact]
    public void Vault_region_and_secret_and_key_fields_are_checked()
    {
        AssertInvalid(Create(Vault, (VaultRegion)42), "CreateVault.Region", "must be one of");
        AssertInvalid(Create(Vault, secret: "AAAA"), "CreateVault.SigningSecretBase64", "32 bytes");
        var vault = CreatedVault();
        AssertInvalid(vault.Decide(new IssueRegistrationKey(Vault, -1)), "IssueRegistrationKey.NowUnixMs", ">= 0");
        Assert.False(vault.Decide(new IssueRegistrationKey(Vault, 0)).IsRefused);
        AssertInvalid(vault.Decide(new RevokeRegistrationKey(Vault, 0)), "RevokeRegistrationKey.KeyId", "issued key id");
        Assert.Equal(RegistrationRefusal.NotFound, VaultState.Empty(Vault).Decide(new IssueRegistrationKey(Vault, 1)).Refusal?.Reason);
        Assert.Equal(RegistrationRefusal.AlreadyExists,
            vault.Decide(new CreateVaultWithSecret(Vault, VaultRegion.JapanEast, SecretA)).Refusal?.Reason);
        Assert.Empty(vault.Decide(new CreateVaultWithSecret(Vault, VaultRegion.WestEurope, SecretB)).Events); // same region: no-op
    }

    private static RegistrationDecision<IConfigurationServerEvent> Register(
        string id = Server, Connectivity c = Connectivity.Internet, string[]? endpoints = null, long now = T0) =>
        ConfigurationServerState.Empty(id).Decide(new RegisterWithVerifiedKey(id, ValidVerdict(), c, endpoints ?? Endpoints, now, P1));

    [Fact]
    public void Configuration_server_fields_and_limits()
    {
        Assert.False(Register("c").IsRefused);
        Assert.False(Register("c" + new string('x', 63)).IsRefused);
        AssertInvalid(Register("c" + new string('x', 64)), "RegisterConfigurationServer.ServerId", RegistrationRules.IdRule);
        AssertInvalid(Register(""), "RegisterConfigurationServer.ServerId", RegistrationRules.IdRule);
        AssertInvalid(Register("-x"), "RegisterConfigurationServer.ServerId", RegistrationRules.IdRule);
        AssertInvalid(Register(c: (Connectivity)3), "RegisterConfigurationServer.Connectivity", "Internet, Vpn");
        AssertInvalid(Register(now: -1), "RegisterConfigurationServer.NowUnixMs", ">= 0");

        AssertInvalid(Register(endpoints: []), "RegisterConfigurationServer.Endpoints", "1-8 entries");
        Assert.False(Register(endpoints: Enumerable.Range(1, 8).Select(i => $"h{i}:1").ToArray()).IsRefused);
        AssertInvalid(Register(endpoints: Enumerable.Range(1, 9).Select(i => $"h{i}:1").ToArray()), "RegisterConfigurationServer.Endpoints", "1-8 entries");
        Assert.False(Register(endpoints: ["h:1", "h:65535", new string('a', 253) + ":80"]).IsRefused);
        foreach (var bad in new[] { "h:0", "h:65536", "h", ":80", "h:", "h:+1", "h h:1", new string('a', 254) + ":80" })
            AssertInvalid(Register(endpoints: ["ok:1", bad]), "RegisterConfigurationServer.Endpoints[1]", RegistrationRules.EndpointRule);
        AssertInvalid(Register(endpoints: ["h:1", "H:1"]), "RegisterConfigurationServer.Endpoints", "must not repeat");
    }

    [Fact]
    public void Connectivity_and_component_commands_are_checked()
    {
        var s = RegisteredServer();
        AssertInvalid(s.Decide(new ChangeConnectivity(Server, (Connectivity)7, Endpoints)), "ChangeConnectivity.Connectivity", "Internet, Vpn");
        AssertInvalid(s.Decide(new ChangeConnectivity(Server, Connectivity.Vpn, [])), "ChangeConnectivity.Endpoints", "1-8 entries");
        Assert.Empty(s.Decide(new ChangeConnectivity(Server, Connectivity.Internet, Endpoints)).Events);
        Assert.Single(s.Decide(new ChangeConnectivity(Server, Connectivity.Vpn, Endpoints)).Events);

        Assert.False(s.Decide(new BeginRegistrationWithNonce(Server, "p" + new string('s', 63), ComponentKind.ProcessServer, "n", T0)).IsRefused);
        AssertInvalid(s.Decide(new BeginRegistrationWithNonce(Server, "p" + new string('s', 64), ComponentKind.ProcessServer, "n", T0)),
            "BeginRegistration.ComponentId", RegistrationRules.IdRule);
        AssertInvalid(s.Decide(new BeginRegistrationWithNonce(Server, "ps", (ComponentKind)4, "n", T0)), "BeginRegistration.Kind", "ProcessServer, MasterTarget");
        AssertInvalid(s.Decide(new BeginRegistrationWithNonce(Server, "ps", ComponentKind.MasterTarget, "n", -1)), "BeginRegistration.NowUnixMs", ">= 0");
        AssertInvalid(s.Decide(new CompleteRegistration(Server, "", "n", "p", T0)), "CompleteRegistration.ComponentId", RegistrationRules.IdRule);
        AssertInvalid(s.Decide(new CompleteRegistration(Server, "ps", "", "p", T0)), "CompleteRegistration.Nonce", "non-empty");
        AssertInvalid(s.Decide(new CompleteRegistration(Server, "ps", "n", "", T0)), "CompleteRegistration.Proof", "non-empty");
        AssertInvalid(s.Decide(new CompleteRegistration(Server, "ps", "n", "p", -1)), "CompleteRegistration.NowUnixMs", ">= 0");

        var empty = ConfigurationServerState.Empty(Server);
        var notFound = empty.Decide(new BeginRegistrationWithNonce(Server, "ps", ComponentKind.ProcessServer, "n", T0));
        Assert.Equal(RegistrationRefusal.NotFound, notFound.Refusal?.Reason);
        Assert.Contains("BeginRegistration.ConfigServerId", notFound.Refusal!.Message);
        Assert.Equal(RegistrationRefusal.NotFound, empty.Decide(new RegeneratePassphraseWith(Server, P2, T0)).Refusal?.Reason);
    }
}
