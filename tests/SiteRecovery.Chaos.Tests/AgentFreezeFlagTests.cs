using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent's application-consistency flags and its <c>--shutdown-command</c> (a planned failover's quiesce) through the
/// real sragent: a bad one stops start-up naming the flag and value.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentFreezeFlagTests : IDisposable
{
    readonly TempDir _dir = new("freeze-flags");

    public void Dispose() => _dir.Dispose();

    async Task<ProcessRun> RunAgentAsync(params string[] extra)
    {
        var disk = _dir["disk.img"];
        if (!File.Exists(disk)) Files.CreateDisk(disk, 1 << 20);
        var r = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--disk", $"d1={disk}", "--process-server", $"127.0.0.1:{Net.FreePort()}",
            "--state-dir", _dir["agent"], "--nbd", $"127.0.0.1:{Net.FreePort()}", .. extra], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode != 0, $"expected a non-zero exit, got 0:\n{r.Output}");
        Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at [\w.<>`]+\(", r.StdErr);
        return r;
    }

    [Fact]
    public async Task A_missing_freeze_script_names_the_flag_and_the_path()
    {
        var missing = _dir["hooks/quiesce-db.sh"];
        var r = await RunAgentAsync("--freeze-script", missing);
        Assert.Contains($"--freeze-script '{missing}' does not exist", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_freeze_mount_that_is_not_a_mount_point_is_refused()
    {
        var plain = _dir["plain-dir"];
        Directory.CreateDirectory(plain);
        var r = await RunAgentAsync("--freeze-mount", plain);
        Assert.Contains($"--freeze-mount {plain}: '{plain}' is not a mount point", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hook_timeout_out_of_range_or_not_a_number_names_the_flag()
    {
        Assert.Contains("--hook-timeout 0: must be more than 0", (await RunAgentAsync("--hook-timeout", "0")).StdErr, StringComparison.Ordinal);
        Assert.Contains("--hook-timeout", (await RunAgentAsync("--hook-timeout", "soon")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_shutdown_command_names_the_flag_and_the_path()
    {
        var missing = _dir["hooks/poweroff.sh"];
        var r = await RunAgentAsync("--shutdown-command", missing);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"--shutdown-command '{missing}' does not exist", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_shutdown_command_that_is_not_executable_is_refused()
    {
        var plain = _dir["poweroff.sh"];
        File.WriteAllText(plain, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var r = await RunAgentAsync("--shutdown-command", plain);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"--shutdown-command '{plain}' is not executable", r.StdErr, StringComparison.Ordinal);
    }
}
