using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests;

/// <summary>The agent's <c>--shutdown-command</c> through the real sragent: a missing or non-executable script stops start-up (exit 2) naming the flag and path.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentShutdownFlagTests : IDisposable
{
    readonly TempDir _dir = new("shutdown-flag");

    public void Dispose() => _dir.Dispose();

    async Task<ToolResult> RunAgentAsync(params string[] extra)
    {
        var disk = _dir["disk.img"];
        if (!File.Exists(disk)) Files.CreateDisk(disk, 1 << 20);
        var r = await Tools.RunAsync("dotnet", [Repo.AgentDll, "run", "--disk", $"d1={disk}", "--process-server", $"127.0.0.1:{Net.FreePort()}",
            "--state-dir", _dir["agent"], "--nbd", $"127.0.0.1:{Net.FreePort()}", .. extra], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 2, $"got exit {r.ExitCode}, want 2:\n{r.Output}");
        Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
        return r;
    }

    [Fact]
    public async Task A_missing_shutdown_command_names_the_flag_and_the_path()
    {
        var missing = _dir["hooks/poweroff.sh"];
        var r = await RunAgentAsync("--shutdown-command", missing);
        Assert.Contains($"--shutdown-command '{missing}' does not exist", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_shutdown_command_that_is_not_executable_is_refused()
    {
        var plain = _dir["poweroff.sh"];
        File.WriteAllText(plain, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var r = await RunAgentAsync("--shutdown-command", plain);
        Assert.Contains($"--shutdown-command '{plain}' is not executable", r.StdErr, StringComparison.Ordinal);
    }
}
