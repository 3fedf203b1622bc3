using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The site authority's certificates after registration, through real nodes, agents and srctl: renewal by proof of
/// possession (the node's own timer and <c>sragent renew</c>), refusals that store nothing, revocation on re-registration
/// with another key and on removal (listed by the API's <see cref="SiteRecovery.Node.Access.RevocationList"/> and srctl),
/// registration against an https configuration API, and the authority's backup and restore with <c>srnode</c>.
/// </summary>
public sealed class SiteAuthorityLifecycleTests : IDisposable
{
    readonly TempDir _dir = new("site-authority");
    public void Dispose() => _dir.Dispose();

    static string Srctl => Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");

    /// <summary>A configuration node with configuration server cs1; returns its passphrase, written to <c>pass.txt</c>.</summary>
    async Task<string> ConfigurationServer(Node config)
    {
        await config.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await config.Api.PostAsync("/api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var key = (await config.Api.PostAsync("/api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        var passphrase = (await config.Api.PostAsync("/api/configuration-servers",
            new { id = "cs1", registrationKey = key, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } })).Body!["passphrase"]!.GetValue<string>();
        File.WriteAllText(_dir["pass.txt"], passphrase);
        return passphrase;
    }

    static X509Certificate2 Certificate(string folder) => X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "component.crt"));

    static async Task<JsonArray> Revoked(Node config) => (await config.Api.GetAsync("/api/site-authority/revoked")).Body!["revoked"]!.AsArray();

    static async Task<JsonArray> RevokedEventually(Node config, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var list = await Revoked(config);
            if (list.Count >= atLeast || DateTime.UtcNow > deadline) return list;
            await Task.Delay(200);
        }
    }

    Task<ProcessRun> Agent(params string[] args) => ExternalTool.RunAsync("dotnet", [Repo.AgentDll, .. args], TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Certificates_renew_by_proof_of_their_key_and_are_revoked_on_reregistration_with_another_key_and_on_removal()
    {
        using var config = new Node("cfg", "configuration,master-target", _dir["cfg"], _dir.Path);
        var passphrase = await ConfigurationServer(config);

        // The process-server node renews its own certificate on its timer (here: whenever a check finds any of its 30 days used).
        File.WriteAllText(_dir["renew.hocon"], "siterecovery.api.component-certificate-renew-below = 0.999999\nsiterecovery.api.component-certificate-renewal-check-interval = 2s\n");
        using var ps = new Node("ps1", "process-server", _dir["ps1"], _dir.Path, config.MtAddress,
            "--register-with", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["pass.txt"], "--config", _dir["renew.hocon"]);
        await ps.StartAsync();
        var psFolder = Path.Combine(_dir["ps1"], "keys", "components", "ps1-ps");
        string firstPsSerial;
        using (var first = Certificate(psFolder)) firstPsSerial = first.SerialNumber;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string renewedPsSerial;
        while (true)
        {
            using (var now = Certificate(psFolder)) renewedPsSerial = now.SerialNumber;
            if (renewedPsSerial != firstPsSerial) break;
            Assert.True(DateTime.UtcNow < deadline, $"the node did not renew its process server's certificate within 60 s\n{ps.Logs()}");
            await Task.Delay(500);
        }
        using (var renewed = Certificate(psFolder))
        using (var key = WriterIdentity.Open(psFolder))
            Assert.Equal(key.PublicKey, renewed.PublicKey.ExportSubjectPublicKeyInfo());
        // The file changes before the node's log line reaches the test (its logger writes through a queue).
        await ps.Process!.WaitForLineAsync(l => l.Contains("certificate renewed", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the renewal's log line");
        // Stopped, so that the certificates it holds are the ones its removal below must revoke.
        await ps.StopAsync();
        var psSerials = ps.Logs(400).Split('\n').Count(l => l.Contains("certificate renewed")) + 1;

        // An agent registers, then renews with sragent renew: same key, new serial, the old one not revoked.
        var agentDir = _dir["agent"];
        var registered = await Agent("register", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["pass.txt"], "--state-dir", agentDir);
        Assert.True(registered.ExitCode == 0, registered.Output);
        string registeredSerial;
        using (var c = Certificate(agentDir)) registeredSerial = c.SerialNumber;
        var renewedAgent = await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", agentDir, "--json");
        Assert.True(renewedAgent.ExitCode == 0, renewedAgent.Output);
        Assert.Contains("\"renewed\"", renewedAgent.StdOut);
        string renewedSerial;
        using (var c = Certificate(agentDir))
        using (var key = WriterIdentity.Open(agentDir))
        {
            renewedSerial = c.SerialNumber;
            Assert.Equal(key.PublicKey, c.PublicKey.ExportSubjectPublicKeyInfo());
        }
        Assert.NotEqual(registeredSerial, renewedSerial);
        Assert.Empty(await Revoked(config));

        // A renewal signed by another key than the certificate's is refused by name and stores nothing.
        var viewBefore = (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text;
        var nonce = (await config.Api.As(null).PostAsync("/api/site-authority/challenges", new { configurationServerId = "cs1", componentId = "vm1" })).Body!["nonce"]!.GetValue<string>();
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string keySha256;
        using (var key = WriterIdentity.Open(agentDir)) keySha256 = PassphraseProof.KeySha256(key.PublicKey);
        var forged = Convert.ToBase64String(stranger.SignData(RenewalProof.Payload("cs1", "vm1", nonce, keySha256), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        var refused = await config.Api.As(null).PostAsync("/api/site-authority/renew",
            new { configurationServerId = "cs1", componentId = "vm1", nonce, certificatePem = File.ReadAllText(Path.Combine(agentDir, "component.crt")), signature = forged });
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains("SignatureInvalid", refused.Error);
        Assert.Equal(viewBefore, (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text);
        Assert.Empty(await Revoked(config));

        // Registered again with another key (a new writer directory), both earlier certificates are revoked by serial.
        var newDir = _dir["agent-new"];
        var again = await Agent("register", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["pass.txt"], "--state-dir", newDir);
        Assert.True(again.ExitCode == 0, again.Output);
        var revoked = await RevokedEventually(config, 2);
        Assert.Equal(new[] { registeredSerial, renewedSerial }.Order(StringComparer.Ordinal), revoked.Select(r => r!["serial"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.All(revoked, r => Assert.Equal(("vm1", "KeyReplaced"), (r!["component"]!.GetValue<string>(), r["reason"]!.GetValue<string>())));
        // The old certificate cannot renew any more; the new one can.
        var stale = await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", agentDir);
        Assert.Equal(2, stale.ExitCode);
        Assert.Contains("CertificateRevoked", stale.Output);
        Assert.True((await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", newDir)).ExitCode == 0);

        // Removing the process server revokes its certificates (both serials); srctl lists them all.
        var removed = await ExternalTool.RunAsync("dotnet", [Srctl, "components", "remove", "ps1-ps", "--configuration-server", "cs1", "--api", config.ApiUrl,
            "--token-file", config.AdminTokenFile], TimeSpan.FromMinutes(1));
        Assert.True(removed.ExitCode == 0, removed.Output);
        Assert.Contains(firstPsSerial, removed.StdOut);
        Assert.Contains(renewedPsSerial, removed.StdOut);
        var listed = await ExternalTool.RunAsync("dotnet", [Srctl, "site-authority", "revoked", "--api", config.ApiUrl, "--token-file", config.AdminTokenFile],
            TimeSpan.FromMinutes(1));
        var deadlineListed = DateTime.UtcNow.AddSeconds(30);
        while (!listed.StdOut.Contains(renewedPsSerial) && DateTime.UtcNow < deadlineListed)
        {
            await Task.Delay(300);
            listed = await ExternalTool.RunAsync("dotnet", [Srctl, "site-authority", "revoked", "--api", config.ApiUrl, "--token-file", config.AdminTokenFile], TimeSpan.FromMinutes(1));
        }
        foreach (var serial in new[] { registeredSerial, renewedSerial, firstPsSerial, renewedPsSerial }) Assert.Contains(serial, listed.StdOut);
        Assert.Contains("ComponentRemoved", listed.StdOut);
        var revokedCount = (await Revoked(config)).Count;
        // Every certificate the process server got (one more if a renewal was cut off by the stop after it was journaled).
        Assert.InRange(revokedCount, 2 + psSerials, 3 + psSerials);
        Assert.DoesNotContain("ps1-ps", (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text);
        // A second removal names what is wrong.
        var twice = await config.Api.DeleteAsync("/api/configuration-servers/cs1/components/ps1-ps");
        Assert.Equal(HttpStatusCode.NotFound, twice.Status);
        Assert.Contains("ps1-ps", twice.Error);

        // After a restart the list is rebuilt from the journal.
        await config.StopAsync();
        await config.StartAsync();
        Assert.Equal(revokedCount, (await RevokedEventually(config, revokedCount)).Count);
        // And the configuration server's own record of them: the removed component stays removed, the current agent
        // certificate still renews, the revoked one still does not.
        Assert.Equal(HttpStatusCode.NotFound, (await config.Api.DeleteAsync("/api/configuration-servers/cs1/components/ps1-ps")).Status);
        Assert.True((await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", newDir)).ExitCode == 0);
        Assert.Contains("CertificateRevoked", (await Agent("renew", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1", "--state-dir", agentDir)).Output);
        Assert.DoesNotContain(passphrase, string.Join('\n', ps.Process!.Lines) + config.Logs(400));
    }

    [Fact]
    public async Task A_node_registers_with_an_https_configuration_api_it_trusts_by_register_ca_file_and_is_refused_by_name_without_it()
    {
        using var config = new Node("cfgs", "configuration,master-target", _dir["cfgs"], _dir.Path) { Https = true };
        await ConfigurationServer(config);

        using var untrusting = new Node("psu", "process-server", _dir["psu"], _dir.Path, config.MtAddress,
            "--register-with", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["pass.txt"]);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => untrusting.StartAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("is not trusted", failure.Message);
        Assert.False(File.Exists(Path.Combine(_dir["psu"], "keys", "components", "psu-ps", "component.crt")));

        using var trusting = new Node("pst", "process-server", _dir["pst"], _dir.Path, config.MtAddress,
            "--register-with", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["pass.txt"], "--register-ca-file", config.ApiCertificateFile);
        await trusting.StartAsync();
        var authority = (await config.Api.GetAsync("/api/site-authority")).Body!["certificatePem"]!.GetValue<string>();
        Assert.Equal(authority, File.ReadAllText(Path.Combine(_dir["pst"], "keys", "components", "pst-ps", "site-ca.crt")));
    }

    [Fact]
    public async Task The_authority_backed_up_with_srnode_restores_into_an_empty_data_directory_as_the_same_authority()
    {
        using var config = new Node("cfgb", "configuration", _dir["cfgb"], _dir.Path);
        await config.StartAsync();
        var sha = (await config.Api.GetAsync("/api/site-authority")).Body!["sha256"]!.GetValue<string>();
        File.WriteAllText(_dir["backup-pass.txt"], "correct horse battery staple\n");
        var backup = _dir["site-ca.backup"];
        var made = await ExternalTool.RunAsync("dotnet", [Repo.NodeDll, "site-authority", "backup", "--data", _dir["cfgb"], "--output", backup, "--passphrase-file", _dir["backup-pass.txt"]],
            TimeSpan.FromMinutes(1));
        Assert.True(made.ExitCode == 0, made.Output);
        Assert.DoesNotContain("BEGIN PRIVATE KEY", File.ReadAllText(backup));
        var again = await ExternalTool.RunAsync("dotnet", [Repo.NodeDll, "site-authority", "backup", "--data", _dir["cfgb"], "--output", backup, "--passphrase-file", _dir["backup-pass.txt"]],
            TimeSpan.FromMinutes(1));
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("exists", again.Output);

        File.WriteAllText(_dir["wrong-pass.txt"], "not the backup's passphrase");
        var wrong = await ExternalTool.RunAsync("dotnet", [Repo.NodeDll, "site-authority", "restore", "--data", _dir["restored"], "--input", backup, "--passphrase-file", _dir["wrong-pass.txt"]],
            TimeSpan.FromMinutes(1));
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("does not open", wrong.Output);
        Assert.False(File.Exists(Path.Combine(_dir["restored"], "keys", "site-ca.key")));

        var restored = await ExternalTool.RunAsync("dotnet", [Repo.NodeDll, "site-authority", "restore", "--data", _dir["restored"], "--input", backup, "--passphrase-file", _dir["backup-pass.txt"]],
            TimeSpan.FromMinutes(1));
        Assert.True(restored.ExitCode == 0, restored.Output);
        Assert.Contains(sha, restored.StdOut);
        using var node = new Node("cfgr", "configuration", _dir["restored"], _dir.Path);
        await node.StartAsync();
        Assert.Equal(sha, (await node.Api.GetAsync("/api/site-authority")).Body!["sha256"]!.GetValue<string>());
    }
}
