using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The agent's identity flags through the real sragent (<c>--process-server-id</c>, the certificate renewal's
/// <c>--certificate-renew-below</c> and <c>--certificate-check-interval</c>): a bad value stops start-up with exit 2,
/// naming the flag and the value, before anything is written to the state directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AgentIdentityFlagTests : IDisposable
{
    readonly TempDir _dir = new("identity-flags");

    public void Dispose() => _dir.Dispose();

    async Task<string> RefusedAsync(params string[] extra)
    {
        var disk = _dir["disk.img"];
        if (!File.Exists(disk)) Files.CreateDisk(disk, 1 << 20);
        var state = _dir["agent"];
        var r = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--disk", $"d1={disk}", "--process-server", $"127.0.0.1:{Net.FreePort()}",
            "--state-dir", state, "--nbd", $"127.0.0.1:{Net.FreePort()}", .. extra], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 2, $"expected exit 2, got {r.ExitCode}:\n{r.Output}");
        Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at [\w.<>`]+\(", r.StdErr);
        Assert.True(!Directory.Exists(state) || !Directory.EnumerateFileSystemEntries(state).Any(), $"the refused start left files in '{state}'");
        return r.StdErr;
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("..")]
    public async Task A_process_server_id_that_is_not_a_component_id_is_refused(string id) =>
        Assert.Contains($"--process-server-id '{id}' is not a component id", await RefusedAsync("--process-server-id", id), StringComparison.Ordinal);

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("1.5")]
    [InlineData("NaN")]
    public async Task A_renewal_fraction_outside_zero_to_one_names_the_flag(string fraction) =>
        Assert.Contains("--certificate-renew-below", await RefusedAsync("--certificate-renew-below", fraction), StringComparison.Ordinal);

    [Theory]
    [InlineData("0")]
    [InlineData("0.5")]
    [InlineData("604801")]
    [InlineData("Infinity")]
    public async Task A_check_interval_outside_one_second_to_a_week_names_the_flag(string seconds)
    {
        var stderr = await RefusedAsync("--certificate-check-interval", seconds);
        Assert.Contains("--certificate-check-interval", stderr, StringComparison.Ordinal);
        Assert.Contains("seconds from 1 to 604800", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{garbage")]
    [InlineData("{\"ApiUrl\":\"\",\"ConfigurationServerId\":\"cs1\",\"ComponentId\":\"vm1\"}")]
    public async Task A_damaged_enrollment_record_stops_start_up_naming_the_file_whether_or_not_a_process_server_is_given(string content)
    {
        var disk = _dir["disk.img"];
        if (!File.Exists(disk)) Files.CreateDisk(disk, 1 << 20);
        var state = _dir["enrolled"];
        Directory.CreateDirectory(state);
        var record = Path.Combine(state, "enrollment.json");
        await File.WriteAllTextAsync(record, content);
        foreach (var processServer in new[] { new[] { "--process-server", $"127.0.0.1:{Net.FreePort()}" }, [] })
        {
            var r = await ExternalTool.RunAsync("dotnet", [Repo.AgentDll, "run", "--disk", $"d1={disk}", "--state-dir", state,
                "--nbd", $"127.0.0.1:{Net.FreePort()}", .. processServer], TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 2, $"expected exit 2, got {r.ExitCode}:\n{r.Output}");
            Assert.Contains($"'{record}'", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("register again", r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
            Assert.Equal(content, await File.ReadAllTextAsync(record));
            Assert.Equal(["enrollment.json"], Directory.EnumerateFileSystemEntries(state).Select(Path.GetFileName));
        }
    }
}
