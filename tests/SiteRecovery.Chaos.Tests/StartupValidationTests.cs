using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>Bad command lines: the hosts exit non-zero at once with a message naming the problem, never a stack trace.</summary>
public sealed class StartupValidationTests : IDisposable
{
    readonly TempDir _dir = new("startup");

    public void Dispose() => _dir.Dispose();

    static async Task<ProcessRun> RunHostAsync(string dll, params string[] args)
    {
        var r = await ExternalTool.RunAsync("dotnet", [dll, .. args], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode != 0, $"expected a non-zero exit, got 0:\n{r.Output}");
        Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at [\w.<>`]+\(", r.StdErr);
        return r;
    }

    string[] NodeArgs(params string[] extra) =>
    [
        "run", "--id", "bad", "--data", _dir["node"], "--ps-listen", $"127.0.0.1:{Net.FreePort()}",
        "--mt-listen", $"127.0.0.1:{Net.FreePort()}", "--api", $"http://127.0.0.1:{Net.FreePort()}", .. extra,
    ];

    [Fact]
    public async Task Agent_with_a_missing_disk_path_names_the_path()
    {
        var missing = _dir["no-such-dir/disk.img"];
        var r = await RunHostAsync(Repo.AgentDll, "run", "--disk", $"d1={missing}", "--process-server", $"127.0.0.1:{Net.FreePort()}", "--state-dir", _dir["agent"], "--nbd", $"127.0.0.1:{Net.FreePort()}");
        Assert.Contains(missing, r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_with_disk_without_equals_names_the_expected_form()
    {
        var r = await RunHostAsync(Repo.AgentDll, "run", "--disk", "foo", "--process-server", $"127.0.0.1:{Net.FreePort()}", "--state-dir", _dir["agent"], "--nbd", $"127.0.0.1:{Net.FreePort()}");
        Assert.Contains("'foo'", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("NAME=PATH", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_with_unknown_journal_provider_and_a_connection_string_names_the_allowed_providers()
    {
        var r = await RunHostAsync(Repo.NodeDll, NodeArgs("--journal-provider", "nosuch", "--journal-connection", "Host=127.0.0.1"));
        Assert.Contains("nosuch", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("sqlite, postgres, sqlserver", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_with_unknown_journal_provider_names_the_allowed_providers()
    {
        var r = await RunHostAsync(Repo.NodeDll, NodeArgs("--journal-provider", "nosuch"));
        Assert.Contains("nosuch", r.StdErr, StringComparison.Ordinal);
        Assert.True(r.StdErr.Contains("sqlite", StringComparison.Ordinal) && r.StdErr.Contains("postgres", StringComparison.Ordinal),
            $"stderr does not name the allowed providers (sqlite, postgres, sqlserver):\n{r.StdErr}");
    }

    [Fact]
    public async Task Node_with_unreachable_postgres_names_provider_and_host()
    {
        var port = Net.FreePort();
        var r = await RunHostAsync(Repo.NodeDll, NodeArgs("--journal-provider", "postgres", "--journal-connection",
            $"Host=127.0.0.1;Port={port};Username=siterecovery;Password=siterecovery;Database=nothing_here"));
        Assert.Contains("postgres", r.StdErr, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("Password=siterecovery", r.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_with_bogus_role_names_the_role()
    {
        var r = await RunHostAsync(Repo.NodeDll, NodeArgs("--roles", "bogus"));
        Assert.Contains("'bogus'", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("master-target", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_with_a_bad_data_path_setting_names_the_key_and_writes_nothing()
    {
        var overrides = _dir["bad.hocon"];
        await File.WriteAllTextAsync(overrides, "siterecovery.data-path.process-server.commit-bytes = lots\n");
        var r = await RunHostAsync(Repo.NodeDll, NodeArgs("--config", overrides));
        Assert.Contains("siterecovery.data-path.process-server.commit-bytes", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir["node"], "journal.db")), "a refused start created the journal");

        await File.WriteAllTextAsync(overrides, "siterecovery.data-path.master-target.commit-bytes = 1KiB\n");
        r = await RunHostAsync(Repo.NodeDll, NodeArgs("--config", overrides));
        Assert.Contains("master-target.commit-bytes = 1024 is outside", r.StdErr, StringComparison.Ordinal);

        // The retention and group-schedule keys are checked the same way, before anything is written.
        foreach (var key in new[] { "retention-window", "checkpoint-interval", "group-point-interval", "group-schedule-check-interval", "clock-skew-alert" })
        {
            await File.WriteAllTextAsync(overrides, $"siterecovery.data-path.master-target.{key} = sometimes\n");
            r = await RunHostAsync(Repo.NodeDll, NodeArgs("--config", overrides));
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains($"siterecovery.data-path.master-target.{key}", r.StdErr, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(_dir["node"], "journal.db")), $"a start refused for {key} created the journal");
        }

        // Process-server keys, each with a value that is not of its kind and one beyond its range: reused spool files
        // (a count, 0 turns reuse off, at most 64) and the forwarder's in-memory tail (a size, 0 turns it off, at most 1 GiB).
        foreach (var (key, value, says) in new[]
                 {
                     ("spool-recycle-segments", "some", "not a number"), ("spool-recycle-segments", "-1", "is outside 0..64"),
                     ("forward-memory-bytes", "plenty", "not a byte size"), ("forward-memory-bytes", "2GiB", "is outside 0..1073741824 bytes"),
                     ("max-connections", "many", "not a number"), ("max-connections", "0", "is outside 1..1048576"),
                 })
        {
            await File.WriteAllTextAsync(overrides, $"siterecovery.data-path.process-server.{key} = {value}\n");
            r = await RunHostAsync(Repo.NodeDll, NodeArgs("--config", overrides));
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains($"siterecovery.data-path.process-server.{key}", r.StdErr, StringComparison.Ordinal);
            Assert.Contains(says, r.StdErr, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(_dir["node"], "journal.db")), $"a start refused for {key} = {value} created the journal");
        }
    }
}
