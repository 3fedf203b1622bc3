using System.Net.Sockets;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent's <c>--shutdown-qmp</c> at start, through the real sragent: given with <c>--shutdown-command</c>, or naming
/// something that can never be qemu's QMP socket, start-up stops naming the flag and the value; a socket that is not
/// there yet, or that nobody listens on yet, is only a warning (the machine boots from the agent's disks, so it starts later).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentShutdownQmpFlagTests : IDisposable
{
    readonly TempDir _dir = new("shutdown-qmp-flags");

    public void Dispose() => _dir.Dispose();

    async Task<ProcessRun> RefusedAsync(params string[] extra)
    {
        var disk = _dir["disk.img"];
        if (!File.Exists(disk)) Files.CreateDisk(disk, 1 << 20);
        var r = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--disk", $"d1={disk}", "--process-server", $"127.0.0.1:{Net.FreePort()}",
            "--state-dir", _dir["agent"], "--nbd", $"127.0.0.1:{Net.FreePort()}", .. extra], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 2, $"expected exit 2, got {r.ExitCode}:\n{r.Output}");
        Assert.DoesNotMatch(@"(?m)^\s+at [\w.<>`]+\(", r.StdErr);
        return r;
    }

    [Fact]
    public async Task Both_shutdown_flags_are_refused_naming_both()
    {
        var script = _dir["poweroff.sh"];
        File.WriteAllText(script, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        var qmp = _dir["vm/qmp.sock"];
        var r = await RefusedAsync("--shutdown-command", script, "--shutdown-qmp", qmp);
        Assert.Contains($"--shutdown-command '{script}' and --shutdown-qmp '{qmp}' are both given", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_regular_file_or_a_directory_is_not_a_QMP_socket()
    {
        var file = _dir["qmp.sock"];
        File.WriteAllText(file, "not a socket");
        Assert.Contains($"--shutdown-qmp '{file}' is not a socket (regular file there)", (await RefusedAsync("--shutdown-qmp", file)).StdErr, StringComparison.Ordinal);
        var folder = _dir["qmp-dir"];
        Directory.CreateDirectory(folder);
        Assert.Contains($"--shutdown-qmp '{folder}' is a directory", (await RefusedAsync("--shutdown-qmp", folder)).StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_that_does_not_speak_QMP_is_refused_and_one_nobody_listens_on_is_a_warning()
    {
        // Listening, but greeting with something that is not QMP.
        var wrong = _dir["wrong.sock"];
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(wrong));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync();
            await peer.SendAsync("{\"hello\": \"not qmp\"}\n"u8.ToArray());
            await Task.Delay(2000);
        });
        var r = await RefusedAsync("--shutdown-qmp", wrong);
        Assert.Contains($"--shutdown-qmp '{wrong}': control socket {wrong} did not greet as QMP", r.StdErr, StringComparison.Ordinal);
        await serve;

        // A socket nobody listens on (bound, never listening: connect is refused, as at one a killed qemu left behind): the
        // agent starts, and says the machine cannot be reached yet.
        var stale = _dir["stale.sock"];
        using var gone = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        gone.Bind(new UnixDomainSocketEndPoint(stale));
        using var node = new Node("qmpflag", "all", _dir["n"], _dir.Path);
        await node.StartAsync();
        var disk = _dir["served.img"];
        Files.CreateDisk(disk, 1 << 20);
        using var agent = new Agent("a1", new Dictionary<string, string> { ["d1"] = disk }, node.PsAddress, _dir["agent-a1"], _dir.Path);
        agent.ExtraArgs.AddRange(["--shutdown-qmp", stale]);
        await agent.StartAsync();
        var logs = agent.Logs(100);
        Assert.True(logs.Contains($"--shutdown-qmp '{stale}': nothing listens there now", StringComparison.Ordinal), logs);
    }
}
