using System.Net;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A single node that runs every role, its data path requiring mutual TLS, and nothing registered with it: its process
/// server and master target are certified by its own site authority at start (no configuration server, no passphrase
/// exists yet), so it starts and its two listeners speak TLS. An agent registered with it (<c>sragent register</c>)
/// replicates through both hops and recovers byte for byte; a plain agent is refused by name and nothing is stored for
/// its disk.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConfigurationNodeTlsTests
{
    const long Size = 32L << 20;

    [Fact]
    public async Task A_configuration_node_certifies_its_own_roles_without_a_passphrase_serves_a_registered_agent_under_required_TLS_and_refuses_a_plain_one()
    {
        using var dir = new TempDir("config-node-tls");
        using var node = new Node("cfg", "all", dir["cfg"], dir.Path, null, "--config", TlsSite.RequiredTlsConfig(dir, "cfg"));
        // Before this node certified its own roles, a listener that requires TLS without a certificate stopped the start.
        await node.StartAsync(TimeSpan.FromSeconds(90));
        string Logs() => node.Logs(80);

        // Both roles hold a certificate of this node's authority, naming them, for the key beside it; no configuration
        // server exists yet, so no passphrase was involved.
        var keys = Path.Combine(node.DataDir, "keys");
        using var authority = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(keys, "site-ca.crt"));
        foreach (var (id, kind) in new[] { ("cfg-ps", ComponentKind.ProcessServer), ("cfg-mt", ComponentKind.MasterTarget) })
        {
            var folder = Path.Combine(keys, "components", id);
            using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(folder, EnrollmentCertificates.CertificateFileName)));
            var peer = HopPeer.From(certificate);
            Assert.True(peer is not null && peer.Kind == kind && peer.Id == id, $"{id}: certificate names {peer?.ToString() ?? "nothing"}, want {kind} {id}");
            Assert.True(SiteRecovery.Contracts.Net.CertificateTrust.IssuedToServerBy([authority], certificate, null), $"{id}: not issued by the node's site authority\n{Logs()}");
            using (var key = WriterIdentity.Open(folder)) Assert.Equal(key.Fingerprint, peer!.KeySha256);
            Assert.Equal(File.ReadAllText(Path.Combine(keys, "site-ca.crt")).Trim(), File.ReadAllText(Path.Combine(folder, EnrollmentCertificates.AuthorityFileName)).Trim());
            Assert.False(File.Exists(Path.Combine(folder, EnrollmentRecord.FileName)), $"{id} did not register anywhere, yet has an enrollment record");
        }
        await node.Process!.WaitForLineAsync(l => l.Contains("ProcessServer cfg-ps: certified by this node's site authority", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the process server's certificate line");
        Assert.DoesNotContain(node.Process.Lines, l => l.Contains("siterecovery.data-path.tls.", StringComparison.Ordinal) && l.Contains("accepts plain", StringComparison.Ordinal));

        // An agent registered with the node replicates over both TLS hops: recovered byte for byte.
        var site = await TlsSite.OnAsync(node, dir);
        var real = dir["real.img"];
        Files.CreateDisk(real, Size, seed: 61);
        await site.RegisterAgentAsync("vm1", dir["agent"]);
        using var agent = new Agent("vm1", new Dictionary<string, string> { ["disk1"] = real }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("disk1"), "-c", "write -P 0x5c 3M 1M"], TimeSpan.FromMinutes(1));
        var sequence = await node.BookmarkAsync("tls-point", ["disk1"], TimeSpan.FromSeconds(120));
        var recovered = await node.Api.PostAsync("api/recover", new { disk = "disk1", sequence, output = dir["recovered.img"] });
        Assert.True(recovered.Status == HttpStatusCode.OK, $"{recovered.Text}\n{Logs()}\n{agent.Logs(30)}");
        Assert.Equal(Files.Sha256(real), Files.Sha256(dir["recovered.img"]));
        Assert.Contains(node.Process.Lines, l => l.Contains("TLS as agent vm1", StringComparison.Ordinal));
        // The process server reaches the master target beside it through a Unix socket that is the node user's alone:
        // plain, no TLS between two ends of one process, while the master target's TCP listener still requires TLS.
        var localHop = Path.Combine(node.DataDir, "master-target", "local-hop.sock");
        Assert.Contains(node.Process.Lines, l => l.Contains($"through {localHop}", StringComparison.Ordinal));
        Assert.DoesNotContain(node.Process.Lines, l => l.Contains("master target: TLS session with", StringComparison.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(localHop));

        // A plain agent (no certificate) is refused by name, and nothing is made for its disk at either role.
        await PlainAgentIsRefusedAsync(node, dir, "vm2", "disk2", seed: 62);
    }

    /// <summary>
    /// The shipped defaults require TLS on both listeners: a node started with no data-path setting at all (all roles, so
    /// its own authority certifies them) warns of no plain listener, refuses an agent that holds no certificate by name
    /// and stores nothing for its disk.
    /// </summary>
    [Fact]
    public async Task A_node_on_the_shipped_defaults_requires_TLS_refusing_a_plain_agent_by_name_and_storing_nothing_for_its_disk()
    {
        using var dir = new TempDir("tls-defaults");
        using var node = new Node("dflt", "all", dir["dflt"], dir.Path) { DataPathTls = null };
        Assert.DoesNotContain("--config", node.Args());
        await node.StartAsync(TimeSpan.FromSeconds(90));
        await node.Process!.WaitForLineAsync(l => l.Contains("ProcessServer dflt-ps: certified by this node's site authority", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the process server's certificate line");
        Assert.DoesNotContain(node.Process.Lines, l => l.Contains("siterecovery.data-path.tls.", StringComparison.Ordinal) && l.Contains("accepts plain", StringComparison.Ordinal));
        await PlainAgentIsRefusedAsync(node, dir, "vm1", "disk1", seed: 63);
    }

    /// <summary>
    /// Starts an agent that holds no certificate against <paramref name="node"/>'s process server: the node logs it as a
    /// security refusal naming <see cref="HopRefusal.TlsRequired"/>, the agent names the remedy and never becomes ready,
    /// and neither role made anything for <paramref name="disk"/>.
    /// </summary>
    static async Task PlainAgentIsRefusedAsync(Node node, TempDir dir, string machine, string disk, int seed)
    {
        string Logs() => node.Logs(80);
        var image = dir[$"{disk}.img"];
        Files.CreateDisk(image, Size, seed);
        using var plain = new Agent(machine, new Dictionary<string, string> { [disk] = image }, node.PsAddress, dir[$"plain-{machine}"], dir.Path);
        var before = node.Process!.Lines.Count;
        var start = plain.StartAsync(TimeSpan.FromSeconds(90));
        _ = start.ContinueWith(t => t.Exception, TaskScheduler.Default);
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!node.Process.Lines.Skip(before).Any(l => l.Contains("security: ", StringComparison.Ordinal) && l.Contains(nameof(HopRefusal.TlsRequired), StringComparison.Ordinal)))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the plain agent was never refused\n{Logs()}\n{plain.Logs(30)}");
            await Task.Delay(200);
        }
        await plain.Process!.WaitForLineAsync(l => l.Contains("requires TLS: register the agent with sragent register", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the refusal's reason at the agent");
        Assert.False(start.IsCompletedSuccessfully, $"the plain agent became ready\n{Logs()}");
        plain.Kill9();
        Assert.False(Directory.Exists(Path.Combine(node.DataDir, "process-server", "cache", disk)), $"the process server made something for the plain agent's disk\n{Logs()}");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(node.DataDir, "master-target"), disk + "*", SearchOption.AllDirectories));
        var status = await node.StatusAsync();
        Assert.DoesNotContain(status["cache"]!.AsArray(), c => c!["disk"]!.GetValue<string>() == disk);
    }

    /// <summary>A node whose listeners are not <c>required</c> (a site whose components are not all registered yet) says so at every start.</summary>
    [Fact]
    public async Task A_node_whose_data_path_does_not_require_TLS_warns_at_start()
    {
        using var dir = new TempDir("tls-optional-warning");
        var conf = dir["optional.hocon"];
        await File.WriteAllTextAsync(conf, "siterecovery.data-path.tls { process-server = optional, master-target = off }\n");
        using var node = new Node("n1", "all", dir["n1"], dir.Path, null, "--config", conf);
        await node.StartAsync(TimeSpan.FromSeconds(90));
        await node.Process!.WaitForLineAsync(l => l.Contains("siterecovery.data-path.tls.process-server = optional: the process server accepts plain connections from components without a certificate", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the process server's warning");
        await node.Process.WaitForLineAsync(l => l.Contains("siterecovery.data-path.tls.master-target = off: the master target accepts plain connections only", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the master target's warning");
    }
}
