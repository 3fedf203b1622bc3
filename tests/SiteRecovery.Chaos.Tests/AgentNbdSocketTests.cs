using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent's NBD export on a Unix socket only its user may open, used by a real client and replicated; an export on a
/// TCP address other than loopback, or over a file that is already there, is refused by name.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentNbdSocketTests : IDisposable
{
    static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    readonly TempDir _dir = new("nbd-unix");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_disk_served_on_a_private_unix_socket_is_written_by_qemu_io_and_recovers_byte_for_byte()
    {
        const string Disk = "disk1";
        var diskPath = _dir["disk1.img"];
        await using (var f = new FileStream(diskPath, FileMode.CreateNew)) f.SetLength(16 << 20);
        using var node = new Node("unix", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        var socket = _dir["vm1.nbd.sock"];
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, _dir["agent"], _dir.Path) { NbdSocket = socket };
        await agent.StartAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

        var written = await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x5c 1M 3M", "-c", "write -P 0xa7 9M 512k", "-c", "read -P 0x5c 1M 3M"], Minute);
        Assert.DoesNotContain("fail", written.Output, StringComparison.OrdinalIgnoreCase);
        await node.BookmarkAsync("on-socket", [Disk], Minute);
        var expected = Files.Sha256(diskPath);
        Assert.Equal(expected, await node.RecoverAsync(Disk, "on-socket", _dir["on-socket.img"]));
        Assert.Equal(expected, Files.Sha256(_dir["on-socket.img"]));

        // A clean stop removes the socket, so the agent starts on it again.
        await agent.StopAsync();
        Assert.False(File.Exists(socket));
        await agent.StartAsync();
        await agent.StopAsync();

        // Something already at the path (a socket left by a killed agent, or any file) is refused by name and left alone.
        await File.WriteAllTextAsync(socket, "not a socket");
        var refused = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--id", "vm1", "--disk", $"{Disk}={diskPath}", "--nbd", $"unix:{socket}",
            "--process-server", node.PsAddress, "--state-dir", _dir["agent"]], Minute);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("the path exists", refused.StdErr);
        Assert.Equal("not a socket", await File.ReadAllTextAsync(socket));
    }

    [Fact]
    public async Task An_export_on_an_address_beyond_loopback_is_refused_unless_the_operator_allows_it()
    {
        var diskPath = _dir["d.img"];
        await using (var f = new FileStream(diskPath, FileMode.CreateNew)) f.SetLength(1 << 20);
        var refused = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--id", "vm9", "--disk", $"d={diskPath}", "--nbd", "0.0.0.0:0",
            "--process-server", "127.0.0.1:1", "--state-dir", _dir["agent"]], Minute);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--nbd-listen-any", refused.StdErr);
        Assert.Contains("no authentication", refused.StdErr);
    }
}
