using System.Net;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A registered agent renews its own certificate while it runs (<c>sragent run</c>, from where <c>sragent register</c>
/// left its enrollment record): same key, a new serial, no passphrase kept, and replication over required TLS goes on.
/// Here it renews at every check (any of its lifetime used), as the node's own renewal test does.
/// </summary>
public sealed class AgentCertificateRenewalTests
{
    const string Disk = "disk1";

    [Fact]
    public async Task A_running_agent_renews_its_certificate_by_itself_and_replication_goes_on()
    {
        using var dir = new TempDir("agent-renewal");
        using var site = await TlsSite.StartAsync(dir);
        var node = site.DataNode(dir, "d", "process-server,master-target");
        await node.StartAsync(TimeSpan.FromSeconds(90));
        var real = dir["real.img"];
        Files.CreateDisk(real, 32L << 20, seed: 71);
        var folder = dir["agent"];
        await site.RegisterAgentAsync("vm1", folder);
        var record = EnrollmentRecord.Load(folder)!;
        Assert.Equal((site.Config.ApiUrl, "cs1", "vm1"), (record.ApiUrl, record.ConfigurationServerId, record.ComponentId));
        Assert.DoesNotContain(File.ReadAllText(site.PassphraseFile).Trim(), File.ReadAllText(Path.Combine(folder, EnrollmentRecord.FileName)));
        string first;
        using (var c = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "component.crt"))) first = c.SerialNumber;

        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, folder, dir.Path);
        agent.ExtraArgs.AddRange(["--certificate-renew-below", "0.999999", "--certificate-check-interval", "2"]);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string now;
        while (true)
        {
            using (var c = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "component.crt"))) now = c.SerialNumber;
            if (now != first) break;
            Assert.True(DateTime.UtcNow < deadline, $"the agent did not renew its certificate within 60 s\n{agent.Logs()}");
            await Task.Delay(500);
        }
        using (var renewed = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, "component.crt")))
        using (var key = WriterIdentity.Open(folder))
            Assert.Equal(key.PublicKey, renewed.PublicKey.ExportSubjectPublicKeyInfo());
        Assert.Contains(agent.Process!.Lines, l => l.Contains("certificate renewed (same key", StringComparison.Ordinal));

        // The node sees the agent again after a restart of its own, with whichever certificate the agent holds then.
        await node.StopAsync();
        await node.StartAsync(TimeSpan.FromSeconds(90));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x6b 5M 1M"], TimeSpan.FromMinutes(1));
        var sequence = await node.BookmarkAsync("renewed", [Disk], TimeSpan.FromSeconds(120));
        var output = dir["renewed.img"];
        var r = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence, output });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        Assert.Equal(Files.Sha256(real), Files.Sha256(output));
    }
}
