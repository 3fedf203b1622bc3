using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The operator's set-up path through a real node's HTTP API: vault, registration key, configuration
/// server (passphrase shown once, never logged or streamed), protection group, machine discovery,
/// validation and enabling protection with placement; jobs and the live event stream follow it.
/// </summary>
public sealed class ControlPlaneApiTests : IDisposable
{
    readonly TempDir _dir = new("control-plane");
    public void Dispose() => _dir.Dispose();

    static object Machine(string id, string os, long diskBytes, string failoverName, bool clustered = false) => new
    {
        machineId = id,
        properties = new
        {
            name = id, os, disks = new[] { new { diskId = id + "-d1", sizeBytes = diskBytes } }, bootType = "Bios",
            clustered, hasBitLockerVolumes = false, failoverName, failoverVmSize = "Standard_D2s_v3", failoverNetwork = "vnet1",
        },
    };

    [Fact]
    public async Task Operator_sets_up_protection_and_bad_input_changes_nothing()
    {
        using var node = new Node("cp", "all", _dir["node"], _dir.Path);
        await node.StartAsync();
        var api = node.Api;
        using var events = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var streamCts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var opened = await events.SendAsync(api.Request(HttpMethod.Get, node.ApiUrl + "/api/events"), HttpCompletionOption.ResponseHeadersRead, streamCts.Token);
        opened.EnsureSuccessStatusCode();
        var stream = await opened.Content.ReadAsStreamAsync(streamCts.Token);
        var streamed = new System.Text.StringBuilder();
        var reader = Task.Run(async () =>
        {
            using var r = new StreamReader(stream);
            try { while (await r.ReadLineAsync(streamCts.Token) is { } line) lock (streamed) streamed.AppendLine(line); }
            catch (Exception e) when (e is OperationCanceledException or IOException) { }
        });

        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("/api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var badVault = await api.PostAsync("/api/vaults", new { name = "1v", region = "WestEurope" });
        Assert.Equal(HttpStatusCode.BadRequest, badVault.Status);
        Assert.Contains("VaultName", badVault.Error);
        var badRegion = await api.PostAsync("/api/vaults", new { name = "v2", region = "Mars" });
        Assert.Equal(HttpStatusCode.BadRequest, badRegion.Status);
        Assert.Contains("'region'", badRegion.Error);

        var key = (await api.PostAsync("/api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        var tampered = key[..^2] + (key[^2] == 'A' ? 'B' : 'A') + key[^1];
        var refused = await api.PostAsync("/api/configuration-servers", new { id = "cs1", registrationKey = tampered, connectivity = "Vpn", endpoints = new[] { "10.0.0.1:443" } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains("KeyTampered", refused.Error);
        var registered = await api.PostAsync("/api/configuration-servers", new { id = "cs1", registrationKey = key, connectivity = "Vpn", endpoints = new[] { "10.0.0.1:443" } });
        Assert.Equal(HttpStatusCode.OK, registered.Status);
        var passphrase = registered.Body!["passphrase"]!.GetValue<string>();
        Assert.True(passphrase.Length >= 16);

        // A process server proves the passphrase without sending it; a wrong proof and a replayed nonce are refused.
        var challenge = (await api.PostAsync("/api/configuration-servers/cs1/challenges", new { componentId = "ps-7", kind = "ProcessServer" })).Body!;
        string Proof(string pass) => SiteRecovery.Contracts.Control.PassphraseProof.Compute(pass, challenge["saltBase64"]!.GetValue<string>(),
            challenge["nonce"]!.GetValue<string>(), "ps-7", challenge["iterations"]!.GetValue<int>());
        var wrong = await api.PostAsync("/api/configuration-servers/cs1/components", new { componentId = "ps-7", nonce = challenge["nonce"]!.GetValue<string>(), proof = Proof(passphrase + "x") });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.Status);
        Assert.Contains("WrongPassphrase", wrong.Error);
        var right = await api.PostAsync("/api/configuration-servers/cs1/components", new { componentId = "ps-7", nonce = challenge["nonce"]!.GetValue<string>(), proof = Proof(passphrase) });
        Assert.Equal(HttpStatusCode.OK, right.Status);
        var replay = await api.PostAsync("/api/configuration-servers/cs1/components", new { componentId = "ps-7", nonce = challenge["nonce"]!.GetValue<string>(), proof = Proof(passphrase) });
        Assert.Equal(HttpStatusCode.BadRequest, replay.Status);
        Assert.Contains("Nonce", replay.Error);

        var settings = new { multiVmConsistency = true, rpoThreshold = "00:15:00", retentionWindow = "1.00:00:00", appConsistentFrequency = "04:00:00" };
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("/api/protection-groups", new { groupId = "g1", vault = "v1", settings })).Status);
        var badGroup = await api.PostAsync("/api/protection-groups", new { groupId = "g2", vault = "v1", settings = settings with { retentionWindow = "00:00:00" } });
        Assert.Equal(HttpStatusCode.BadRequest, badGroup.Status);
        Assert.Contains("RetentionWindow", badGroup.Error);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/protection-groups/g2")).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("/api/protection-groups/g1/machines/web01", new { })).Status);

        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("/api/machines", Machine("web01", "Linux", 1L << 30, "web01-dr"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync("/api/machines", Machine("db01", "Linux", 1023L * (1L << 30) + 1, "db01-dr", clustered: true))).Status);
        var invalid = await api.PostAsync("/api/machines/db01/enable", new { churnMBps = 5 });
        Assert.Equal(HttpStatusCode.Conflict, invalid.Status);
        Assert.Contains("DiskTooLarge", invalid.Error);
        Assert.Contains("ClusteredServer", invalid.Error);
        Assert.Equal("Discovered", (await api.GetAsync("/api/machines/db01")).Body!["state"]!.GetValue<string>());

        var enabled = await api.PostAsync("/api/machines/web01/enable", new { churnMBps = 5 });
        Assert.Equal(HttpStatusCode.OK, enabled.Status);
        Assert.Equal("cp-mt", enabled.Body!["placement"]!["masterTargetId"]!.GetValue<string>());
        Assert.Equal("InitialReplication", (await api.GetAsync("/api/machines/web01")).Body!["state"]!.GetValue<string>());
        var tooMuch = await api.PostAsync("/api/machines", Machine("big01", "Linux", 1L << 30, "big01"));
        Assert.Equal(HttpStatusCode.OK, tooMuch.Status);
        var noPs = await api.PostAsync("/api/machines/big01/enable", new { churnMBps = 100_000 });
        Assert.Equal(HttpStatusCode.Conflict, noPs.Status);
        Assert.Contains("add a process server", noPs.Error);

        // The jobs read model follows the journal with a short delay.
        var jobs = "";
        for (var i = 0; i < 100 && !(jobs.Contains("\"kind\":\"EnableProtection\"") && jobs.Contains("\"kind\":\"CreateVault\"")); i++)
        {
            await Task.Delay(100);
            jobs = (await api.GetAsync("/api/jobs")).Text;
        }
        Assert.Contains("\"kind\":\"EnableProtection\"", jobs);
        Assert.Contains("\"kind\":\"CreateVault\"", jobs);

        var alerts = await api.GetAsync("/api/alerts");
        Assert.Equal(HttpStatusCode.OK, alerts.Status);
        Assert.NotNull(alerts.Body!["alerts"]);

        await Task.Delay(1500);
        await streamCts.CancelAsync();
        await reader;
        var text = streamed.ToString();
        Assert.Contains("ProtectionEnablingStarted", text);
        Assert.DoesNotContain(passphrase, text);
        Assert.DoesNotContain(key, text);
        Assert.DoesNotContain(passphrase, string.Join('\n', node.Process!.Lines));
        Assert.False(Files.AnyFileContains(_dir["node"], System.Text.Encoding.UTF8.GetBytes(passphrase)), "the passphrase reached a file under the data directory");
    }

    [Fact]
    public async Task A_process_server_node_registers_by_proving_the_passphrase_and_a_wrong_one_stops_it()
    {
        using var config = new Node("cfg", "configuration,master-target", _dir["cfg"], _dir.Path);
        await config.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await config.Api.PostAsync("/api/vaults", new { name = "v1", region = "WestEurope" })).Status);
        var key = (await config.Api.PostAsync("/api/vaults/v1/keys", new { })).Body!["key"]!.GetValue<string>();
        var passphrase = (await config.Api.PostAsync("/api/configuration-servers",
            new { id = "cs1", registrationKey = key, connectivity = "Internet", endpoints = new[] { "127.0.0.1:443" } })).Body!["passphrase"]!.GetValue<string>();

        File.WriteAllText(_dir["wrong.txt"], passphrase + "-not");
        using var wrong = new Node("psw", "process-server", _dir["psw"], _dir.Path, config.MtAddress,
            "--register-with", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["wrong.txt"]);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => wrong.StartAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("WrongPassphrase", failure.Message);
        Assert.DoesNotContain(passphrase, failure.Message);

        File.WriteAllText(_dir["right.txt"], passphrase + "\n");
        using var ps = new Node("ps1", "process-server", _dir["ps1"], _dir.Path, config.MtAddress,
            "--register-with", config.ApiUrl, "--configuration-server", "cs1", "--passphrase-file", _dir["right.txt"]);
        await ps.StartAsync();
        var view = (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text;
        Assert.Contains("ps1-ps", view);
        Assert.DoesNotContain(passphrase, string.Join('\n', ps.Process!.Lines));
        Assert.False(Files.AnyFileContains(_dir["ps1"], System.Text.Encoding.UTF8.GetBytes(passphrase)), "the passphrase reached the process server's data directory");

        // The site's authority certified the process server's own key; the configuration server lists that key.
        var authority = (await config.Api.GetAsync("/api/site-authority")).Body!;
        var psKeys = Path.Combine(_dir["ps1"], "keys", "components", "ps1-ps");
        AssertCertified(psKeys, authority["certificatePem"]!.GetValue<string>(), "processserver:ps1-ps");
        Assert.Contains(KeySha256(psKeys), view);
        Assert.False(File.Exists(Path.Combine(_dir["psw"], "keys", "components", "psw-ps", "component.crt")), "a refused registration left a certificate");

        // An agent registers the same way, with its writer key; a wrong passphrase gets a clear error and no certificate.
        var agentDir = _dir["agent"];
        var refused = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "register", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1",
            "--passphrase-file", _dir["wrong.txt"], "--state-dir", agentDir], TimeSpan.FromMinutes(1));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("WrongPassphrase", refused.Output);
        Assert.False(File.Exists(Path.Combine(agentDir, "component.crt")));
        var registered = await ExternalTool.RunOkAsync("dotnet", [Repo.AgentDll, "register", "--id", "vm1", "--api", config.ApiUrl, "--configuration-server", "cs1",
            "--passphrase-file", _dir["right.txt"], "--state-dir", agentDir, "--json"], TimeSpan.FromMinutes(1));
        Assert.Contains("\"registered\"", registered.StdOut);
        Assert.DoesNotContain(passphrase, registered.Output + refused.Output);
        AssertCertified(agentDir, authority["certificatePem"]!.GetValue<string>(), "agent:vm1");
        var agentView = (await config.Api.GetAsync("/api/configuration-servers/cs1")).Text;
        Assert.Contains(KeySha256(agentDir), agentView);
        Assert.Contains("\"Agent\"", agentView);
        Assert.False(Files.AnyFileContains(agentDir, System.Text.Encoding.UTF8.GetBytes(passphrase)), "the passphrase reached the agent's state directory");

        // srctl shows the authority and writes its certificate for whoever must trust the site's components.
        var srctl = Path.Combine(Repo.Root, "src", "Hosts", "srctl", "bin", Repo.Configuration, "net10.0", "srctl.dll");
        var shown = await ExternalTool.RunOkAsync("dotnet", [srctl, "site-authority", "show", "--output", _dir["ca.pem"], "--api", config.ApiUrl, "--token-file", config.AdminTokenFile],
            TimeSpan.FromMinutes(1));
        Assert.Contains(authority["sha256"]!.GetValue<string>(), shown.StdOut);
        Assert.Equal(authority["certificatePem"]!.GetValue<string>(), File.ReadAllText(_dir["ca.pem"]));
    }

    /// <summary>The component certificate in <paramref name="folder"/> certifies the writer key beside it, names the component, and chains to the site's authority.</summary>
    static void AssertCertified(string folder, string authorityPem, string component)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(folder, "component.crt")));
        Assert.Equal(authorityPem, File.ReadAllText(Path.Combine(folder, "site-ca.crt")));
        using var root = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(authorityPem);
        Assert.True(SiteRecovery.Contracts.Net.CertificateTrust.IssuedToClientBy([root], certificate, null), $"{folder}/component.crt does not chain to the site's authority");
        using var key = SiteRecovery.Connections.WriterIdentity.Open(folder);
        Assert.Equal(key.PublicKey, certificate.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Contains($"urn:siterecovery:{component}", certificate.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509SubjectAlternativeNameExtension>().Single().Format(false));
    }

    static string KeySha256(string folder)
    {
        using var key = SiteRecovery.Connections.WriterIdentity.Open(folder);
        return SiteRecovery.Contracts.Control.PassphraseProof.KeySha256(key.PublicKey);
    }
}
