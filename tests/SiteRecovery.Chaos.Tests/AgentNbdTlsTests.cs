using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent's NBD export with mutual TLS (<c>--nbd-tls-certificate/-key/-client-ca</c>), used by real clients: qemu-io
/// with a certificate from the right CA writes through it on an address beyond loopback (no <c>--nbd-listen-any</c>)
/// and the write recovers byte for byte; a plain client is told TLS is required and reads nothing; a client whose
/// certificate another CA issued fails the TLS handshake; the three files are given all or none.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentNbdTlsTests : IDisposable
{
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    const string Disk = "disk1";
    readonly TempDir _dir = new("nbd-tls");

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// The server's files and two client folders in the layout qemu's and libnbd's x509 credentials read
    /// (ca-cert.pem, client-cert.pem, client-key.pem): <c>good</c> with a certificate from the server's client CA, and
    /// <c>foreign</c> with one from another CA (its ca-cert.pem holds both CAs: qemu checks its own certificate against
    /// it, and still needs the first to trust the server).
    /// </summary>
    (string[] AgentArgs, string Good, string Foreign) MakePki()
    {
        var ca = TestPki.Authority("site-ca");
        var other = TestPki.Authority("other-ca");
        TestPki.WritePem(ca, _dir["ca.pem"]);
        TestPki.WritePem(TestPki.Server(ca), _dir["server.pem"], _dir["server.key"]);
        var good = Directory.CreateDirectory(_dir["good"]).FullName;
        TestPki.WritePem(ca, Path.Combine(good, "ca-cert.pem"));
        TestPki.WritePem(TestPki.Client(ca, "recovery-tool"), Path.Combine(good, "client-cert.pem"), Path.Combine(good, "client-key.pem"));
        var foreign = Directory.CreateDirectory(_dir["foreign"]).FullName;
        File.WriteAllText(Path.Combine(foreign, "ca-cert.pem"), ca.ExportCertificatePem() + "\n" + other.ExportCertificatePem());
        TestPki.WritePem(TestPki.Client(other, "stranger"), Path.Combine(foreign, "client-cert.pem"), Path.Combine(foreign, "client-key.pem"));
        return (["--nbd-tls-certificate", _dir["server.pem"], "--nbd-tls-key", _dir["server.key"], "--nbd-tls-client-ca", _dir["ca.pem"]], good, foreign);
    }

    static string[] QemuIo(string credentials, int port, params string[] commands) =>
        ["--object", $"tls-creds-x509,id=tls0,dir={credentials},endpoint=client",
         "--image-opts", $"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={port},export={Disk},tls-creds=tls0",
         .. commands.SelectMany(c => new[] { "-c", c })];

    [Fact]
    public async Task A_client_with_a_certificate_from_the_ca_writes_through_tls_on_any_address_and_it_recovers_byte_for_byte_while_others_are_refused()
    {
        var (tlsArgs, good, foreign) = MakePki();
        var diskPath = _dir["disk1.img"];
        await using (var f = new FileStream(diskPath, FileMode.CreateNew)) f.SetLength(16 << 20);
        using var node = new Node("tls", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        // 0.0.0.0 without --nbd-listen-any: mutual TLS is the authentication.
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, _dir["agent"], _dir.Path) { NbdHost = "0.0.0.0" };
        agent.ExtraArgs.AddRange(tlsArgs);
        await agent.StartAsync();

        var written = await ExternalTool.RunOkAsync("qemu-io", QemuIo(good, agent.NbdPort, "write -P 0x5c 1M 3M", "write -P 0xa7 9M 512k", "read -P 0x5c 1M 3M"), Minute);
        Assert.DoesNotContain("fail", written.Output, StringComparison.OrdinalIgnoreCase);
        await node.BookmarkAsync("over-tls", [Disk], Minute);
        var expected = Files.Sha256(diskPath);
        Assert.Equal(expected, await node.RecoverAsync(Disk, "over-tls", _dir["over-tls.img"]));
        Assert.Equal(expected, Files.Sha256(_dir["over-tls.img"]));

        // libnbd's nbdinfo over nbds:// with the same certificate sees the export.
        var info = await ExternalTool.RunOkAsync("nbdinfo", [$"nbds://127.0.0.1:{agent.NbdPort}/{Disk}?tls-certificates={good}"], Minute);
        Assert.Contains("export-size: 16777216", info.Output);

        // A plain client is told TLS is required and gets no data.
        var plain = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "read -v 1M 512"], Minute);
        Assert.NotEqual(0, plain.ExitCode);
        Assert.Contains("TLS", plain.StdErr + plain.Output);
        Assert.DoesNotContain("5c 5c 5c", plain.Output);
        await agent.Process!.WaitForLineAsync(l => l.Contains("ErrTlsRequired: TLS is required", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the TLS-required refusal");

        // A certificate another CA issued fails the TLS handshake, and nothing is written.
        var stranger = await ExternalTool.RunAsync("qemu-io", QemuIo(foreign, agent.NbdPort, "write -P 0x11 1M 4k"), Minute);
        Assert.NotEqual(0, stranger.ExitCode);
        Assert.Equal(expected, Files.Sha256(diskPath));
        await agent.Process!.WaitForLineAsync(l => l.Contains("TLS handshake failed", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the failed handshake");

        // After all that the agent still serves the good client.
        await ExternalTool.RunOkAsync("qemu-io", QemuIo(good, agent.NbdPort, "read -P 0xa7 9M 512k"), Minute);
    }

    [Fact]
    public async Task A_recovery_point_export_with_tls_listens_beyond_loopback_and_serves_only_a_client_with_a_certificate()
    {
        var (tlsArgs, good, _) = MakePki();
        var diskPath = _dir["disk1.img"];
        await using (var f = new FileStream(diskPath, FileMode.CreateNew)) f.SetLength(8 << 20);
        using var node = new Node("tls", "all", _dir["n"], _dir.Path, null, [.. tlsArgs.Select(a => a.Replace("--nbd-tls", "--exports-tls"))]);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, _dir["agent"], _dir.Path);
        await agent.StartAsync();
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x3c 0 2M"], Minute);
        await node.BookmarkAsync("point", [Disk], Minute);
        var expected = Files.Sha256(diskPath);

        // Beyond loopback without --exports-listen-any: the client certificate is the authentication.
        var export = await node.Api.PostAsync($"api/disks/{Disk}/exports", new { bookmark = "point", writable = false, listen = "0.0.0.0:0" });
        Assert.True(export.Status == System.Net.HttpStatusCode.OK, export.Text);
        var uri = export.Body!["uri"]!.GetValue<string>();
        Assert.StartsWith("nbds://0.0.0.0:", uri);
        var local = uri.Replace("0.0.0.0", "127.0.0.1");

        var copied = _dir["copied.img"];
        await ExternalTool.RunOkAsync("nbdcopy", [$"{local}?tls-certificates={good}", copied], Minute);
        Assert.Equal(expected, Files.Sha256(copied));
        var plain = await ExternalTool.RunAsync("nbdinfo", [local.Replace("nbds://", "nbd://")], Minute);
        Assert.NotEqual(0, plain.ExitCode);
        Assert.Contains("TLS", plain.StdErr + plain.Output);
    }

    [Fact]
    public async Task The_tls_files_are_given_all_or_none_and_a_key_others_may_read_is_refused()
    {
        var (tlsArgs, _, _) = MakePki();
        var diskPath = _dir["d.img"];
        await using (var f = new FileStream(diskPath, FileMode.CreateNew)) f.SetLength(1 << 20);
        string[] Run(params string[] extra) => [Repo.AgentDll, "run", "--id", "vm9", "--disk", $"d={diskPath}", "--nbd", "127.0.0.1:0",
            "--process-server", "127.0.0.1:1", "--state-dir", _dir["agent"], .. extra];

        var partial = await ExternalTool.RunAsync("dotnet", Run(tlsArgs[..4]), Minute);
        Assert.Equal(2, partial.ExitCode);
        Assert.Contains("give all three or none (missing --nbd-tls-client-ca)", partial.StdErr);

        File.SetUnixFileMode(_dir["server.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var open = await ExternalTool.RunAsync("dotnet", Run(tlsArgs), Minute);
        Assert.Equal(2, open.ExitCode);
        Assert.Contains($"--nbd-tls-key '{_dir["server.key"]}' may be read or written by other users", open.StdErr);
    }
}
