using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Every component reports its version when it registers and when it renews its certificate, and the site's upgrade
/// order holds: a component newer than its configuration server is refused, naming both versions, and nothing is stored.
/// Through a real configuration node, <c>sragent register</c> and <c>renew</c>, and <c>srctl components list</c>; the newer
/// component is the test itself speaking the registration protocol with another version, as an upgraded one would.
/// </summary>
public sealed class ComponentVersionTests : IDisposable
{
    readonly TempDir _dir = new("component-version");
    public void Dispose() => _dir.Dispose();

    static string Srctl => Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    Task<ProcessRun> Agent(params string[] args) => ExternalTool.RunAsync("dotnet", [Repo.AgentDll, .. args], TimeSpan.FromMinutes(1));

    static async Task<JsonArray> Listed(Node config)
    {
        var run = await ExternalTool.RunAsync("dotnet", [Srctl, "components", "list", "--configuration-server", "cs1", "--api", config.ApiUrl,
            "--token-file", config.AdminTokenFile, "--json"], TimeSpan.FromMinutes(1));
        Assert.True(run.ExitCode == 0, run.Output);
        return JsonNode.Parse(run.StdOut)!.AsArray();
    }

    /// <summary>Registers <paramref name="componentId"/> by the protocol, reporting <paramref name="version"/>.</summary>
    static async Task<(HttpStatusCode Status, string? Error)> RegisterAs(Node config, string passphrase, string componentId, string version)
    {
        var anonymous = config.Api.As(null);
        var challenge = (await anonymous.PostAsync("/api/configuration-servers/cs1/challenges", new { componentId, kind = "ProcessServer" })).Body!;
        var nonce = challenge["nonce"]!.GetValue<string>();
        var proof = PassphraseProof.Compute(passphrase, challenge["saltBase64"]!.GetValue<string>(), nonce, componentId, challenge["iterations"]!.GetValue<int>(), null);
        var r = await anonymous.PostAsync("/api/configuration-servers/cs1/components", new { componentId, nonce, proof, version });
        return (r.Status, r.Error);
    }

    /// <summary>Renews the agent's certificate in <paramref name="agentDir"/> by proof of its key, reporting <paramref name="version"/>.</summary>
    static async Task<(HttpStatusCode Status, string? Error)> RenewAs(Node config, string agentDir, string version)
    {
        var anonymous = config.Api.As(null);
        var nonce = (await anonymous.PostAsync("/api/site-authority/challenges", new { configurationServerId = "cs1", componentId = "vm1" })).Body!["nonce"]!.GetValue<string>();
        using var key = WriterIdentity.Open(agentDir);
        var signature = Convert.ToBase64String(key.Sign(RenewalProof.Payload("cs1", "vm1", nonce, PassphraseProof.KeySha256(key.PublicKey))));
        var r = await anonymous.PostAsync("/api/site-authority/renew", new
        {
            configurationServerId = "cs1", componentId = "vm1", nonce, certificatePem = File.ReadAllText(Path.Combine(agentDir, "component.crt")), signature, version,
        });
        return (r.Status, r.Error);
    }

    [Fact]
    public async Task Components_report_their_version_and_one_newer_than_its_configuration_server_is_refused_by_name()
    {
        using var site = await TlsSite.StartAsync(_dir);
        var config = site.Config;
        var passphrase = File.ReadAllText(site.PassphraseFile);

        // A real agent registers: its version is this build's, as the configuration server's is.
        var agentDir = _dir["agent"];
        var registered = await Agent("register", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", site.PassphraseFile, "--state-dir", agentDir);
        Assert.True(registered.ExitCode == 0, registered.Output);
        var vm1 = Assert.Single(await Listed(config))!;
        Assert.Equal(("vm1", ProductVersion.Current), (vm1["componentId"]!.GetValue<string>(), vm1["version"]!.GetValue<string>()));
        Assert.Equal(ProductVersion.Current, (await config.Api.GetAsync("/api/configuration-servers/cs1")).Body!["version"]!.GetValue<string>());
        var before = (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text;

        // An upgraded process server, newer than its configuration server: refused by name, nothing stored.
        var newer = NextMajor(ProductVersion.Current);
        var (status, error) = await RegisterAs(config, passphrase, "ps9-ps", newer);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains($"'ps9-ps' is version {newer}, newer than its configuration server's {ProductVersion.Current}", error);
        Assert.Contains("upgrade the configuration server first", error);
        // A version that is not one: named, nothing stored.
        (status, error) = await RegisterAs(config, passphrase, "ps9-ps", "1.2");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("Versions.Component '1.2' is not a version", error);
        Assert.Equal(before, (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text);

        // A renewal says what the component runs now: newer is refused (the old certificate still holds), older is recorded.
        (status, error) = await RenewAs(config, agentDir, newer);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains($"'vm1' is version {newer}", error);
        Assert.Equal(before, (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text);
        (status, error) = await RenewAs(config, agentDir, "0.0.1");
        Assert.True(status == HttpStatusCode.OK, error);
        Assert.Equal("0.0.1", Assert.Single(await Listed(config))!["version"]!.GetValue<string>());
        // sragent renew reports this build again.
        var renewed = await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", agentDir);
        Assert.True(renewed.ExitCode == 0, renewed.Output);
        Assert.Equal(ProductVersion.Current, Assert.Single(await Listed(config))!["version"]!.GetValue<string>());

        // The table names the version too.
        var table = await ExternalTool.RunAsync("dotnet", [Srctl, "components", "list", "--configuration-server", "cs1", "--api", config.ApiUrl,
            "--token-file", config.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.True(table.ExitCode == 0, table.Output);
        Assert.Contains("vm1", table.StdOut);
        Assert.Contains(ProductVersion.Current, table.StdOut);
    }

    static string NextMajor(string version) => $"{int.Parse(version.Split('.')[0]) + 1}.0.0";
}
