using System.Diagnostics;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// The application freezer with real scripts in a temp folder: success, failure with its stderr quoted, a hang that is
/// killed with its process tree, a missing or non-executable script, and the freeze-in-order / thaw-in-reverse rule.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApplicationFreezerTests : IDisposable
{
    readonly string _dir = Tools.TempDirectory("freezer");
    readonly List<string> _log = [];

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    string Script(string name, string body, UnixFileMode mode = (UnixFileMode)0b111_101_101)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    /// <summary>A script that records "NAME PHASE" in the shared trail, and fails or hangs in the phases asked.</summary>
    string Recording(string name, string? failIn = null, int exit = 3) =>
        Script(name, $"echo \"{name} $1\" >> '{Trail}'\n" + (failIn is null ? "exit 0" : $"if [ \"$1\" = {failIn} ]; then echo '{name} cannot {failIn}: locked' >&2; exit {exit}; fi\nexit 0"));

    string Trail => Path.Combine(_dir, "trail.txt");

    string[] TrailLines() => File.Exists(Trail) ? File.ReadAllLines(Trail) : [];

    ApplicationFreezer Freezer(TimeSpan? timeout = null, TimeSpan? maxFrozen = null, params string[] scripts) =>
        new(scripts.Select(s => (IFreezeHook)new ScriptHook(s)).ToList(), timeout ?? TimeSpan.FromSeconds(30), maxFrozen ?? TimeSpan.FromMinutes(5), m => { lock (_log) _log.Add(m); });

    [Fact]
    public async Task A_succeeding_script_gets_the_phase_as_its_first_argument_and_both_phases_are_ok()
    {
        var script = Recording("db");
        await using var freezer = Freezer(scripts: script);
        Assert.True(freezer.Configured);
        Assert.Equal(HookResult.Success, await freezer.FreezeAsync(CancellationToken.None));
        Assert.True(freezer.Frozen);
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        Assert.False(freezer.Frozen);
        Assert.Equal(["db freeze", "db thaw"], TrailLines());
        lock (_log) Assert.Contains(_log, l => l.Contains($"freeze hook script {script}: Ok in ", StringComparison.Ordinal) && l.Contains(" ms", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_script_exiting_3_fails_the_freeze_with_its_stderr_quoted_and_is_still_thawed()
    {
        var script = Recording("db", failIn: "freeze", exit: 3);
        await using var freezer = Freezer(scripts: script);
        var r = await freezer.FreezeAsync(CancellationToken.None);
        Assert.Equal(HookOutcome.Failed, r.Outcome);
        Assert.Contains(script, r.Detail);
        Assert.Contains("exit 3", r.Detail);
        Assert.Contains("stderr 'db cannot freeze: locked'", r.Detail);
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        Assert.Equal(["db freeze", "db thaw"], TrailLines());
    }

    [Fact]
    public async Task A_hanging_script_is_killed_with_its_children_and_reported_timed_out()
    {
        var pids = Path.Combine(_dir, "pids");
        var script = Script("hang", $"if [ \"$1\" = freeze ]; then echo $$ > '{pids}'; sleep 600 & echo $! >> '{pids}'; wait; fi\nexit 0");
        await using var freezer = Freezer(timeout: TimeSpan.FromSeconds(1), scripts: script);
        var clock = Stopwatch.StartNew();
        var r = await freezer.FreezeAsync(CancellationToken.None);
        Assert.Equal(HookOutcome.TimedOut, r.Outcome);
        Assert.Contains("no answer within 1 s", r.Detail);
        Assert.Contains("killed with its process tree", r.Detail);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the freeze took {clock.Elapsed}: the 1 s timeout did not end it");

        var started = File.ReadAllLines(pids).Select(int.Parse).ToList();
        Assert.Equal(2, started.Count);
        foreach (var pid in started) await AssertGoneAsync(pid);
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
    }

    /// <summary>Dead: no /proc entry, or a zombie waiting for a reaper that is not ours.</summary>
    static async Task AssertGoneAsync(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            string? stat = null;
            try { stat = File.ReadAllText($"/proc/{pid}/stat"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            var state = stat is null ? 'X' : stat[(stat.LastIndexOf(')') + 2)];
            if (state is 'X' or 'Z') return;
            if (DateTime.UtcNow > deadline) Assert.Fail($"process {pid} is still alive (state {state}) after the hook timed out");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_missing_script_and_a_non_executable_one_are_Missing_and_nothing_is_thawed()
    {
        var missing = Path.Combine(_dir, "no-such-hook.sh");
        await using (var freezer = Freezer(scripts: missing))
        {
            var r = await freezer.FreezeAsync(CancellationToken.None);
            Assert.Equal(HookOutcome.Missing, r.Outcome);
            Assert.Contains($"'{missing}' does not exist", r.Detail);
            Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        }

        var plain = Script("plain.sh", $"echo ran >> '{Trail}'", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using (var freezer = Freezer(scripts: plain))
        {
            var r = await freezer.FreezeAsync(CancellationToken.None);
            Assert.Equal(HookOutcome.Missing, r.Outcome);
            Assert.Contains("is not executable", r.Detail);
            Assert.Contains(plain, r.Detail);
            Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        }
        Assert.Empty(TrailLines());
    }

    [Fact]
    public async Task Hooks_freeze_in_order_and_thaw_in_reverse()
    {
        await using var freezer = Freezer(scripts: [Recording("a"), Recording("b"), Recording("c")]);
        Assert.True((await freezer.FreezeAsync(CancellationToken.None)).Succeeded);
        Assert.True((await freezer.ThawAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(["a freeze", "b freeze", "c freeze", "c thaw", "b thaw", "a thaw"], TrailLines());
    }

    [Fact]
    public async Task After_a_failure_mid_list_the_rest_is_not_frozen_and_every_attempted_hook_is_thawed_in_reverse()
    {
        await using var freezer = Freezer(scripts: [Recording("a"), Recording("b", failIn: "freeze"), Recording("c")]);
        var r = await freezer.FreezeAsync(CancellationToken.None);
        Assert.Equal(HookOutcome.Failed, r.Outcome);
        Assert.Contains("b cannot freeze", r.Detail);
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        Assert.Equal(["a freeze", "b freeze", "b thaw", "a thaw"], TrailLines());
    }

    [Fact]
    public async Task A_failing_thaw_does_not_stop_the_other_thaws_and_is_reported()
    {
        await using var freezer = Freezer(scripts: [Recording("a"), Recording("b", failIn: "thaw", exit: 5), Recording("c")]);
        Assert.True((await freezer.FreezeAsync(CancellationToken.None)).Succeeded);
        var r = await freezer.ThawAsync(CancellationToken.None);
        Assert.Equal(HookOutcome.Failed, r.Outcome);
        Assert.Contains("exit 5", r.Detail);
        Assert.Contains("b cannot thaw", r.Detail);
        Assert.Equal(["a freeze", "b freeze", "c freeze", "c thaw", "b thaw", "a thaw"], TrailLines());
    }

    [Fact]
    public async Task A_freeze_left_without_its_thaw_is_thawed_by_the_agent_and_the_late_thaw_says_so()
    {
        await using var freezer = Freezer(maxFrozen: TimeSpan.FromSeconds(1), scripts: Recording("db"));
        Assert.True((await freezer.FreezeAsync(CancellationToken.None)).Succeeded);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (freezer.Frozen && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(freezer.Frozen, "the freeze was not ended by the agent within 60 s of a 1 s limit");
        Assert.Equal(["db freeze", "db thaw"], TrailLines());
        var late = await freezer.ThawAsync(CancellationToken.None);
        Assert.Equal(HookOutcome.Failed, late.Outcome);
        Assert.Contains("not application-consistent", late.Detail);
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Cancelling_a_freeze_kills_the_running_hook_and_the_thaw_still_runs_for_it()
    {
        var pid = Path.Combine(_dir, "pid");
        var script = Script("slow", $"echo \"slow $1\" >> '{Trail}'\nif [ \"$1\" = freeze ]; then echo $$ > '{pid}'; exec sleep 600; fi\nexit 0");
        await using var freezer = Freezer(scripts: [script, Recording("never")]);
        using var cts = new CancellationTokenSource();
        var freeze = freezer.FreezeAsync(cts.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.Exists(pid) && DateTime.UtcNow < deadline) await Task.Delay(20);
        await cts.CancelAsync();
        var r = await freeze.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(HookOutcome.Failed, r.Outcome);
        Assert.Contains("cancelled", r.Detail);
        await AssertGoneAsync(int.Parse(File.ReadAllText(pid).Trim()));
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
        Assert.Equal(["slow freeze", "slow thaw"], TrailLines());
    }

    [Fact]
    public async Task A_second_freeze_waits_for_the_first_ones_thaw()
    {
        await using var freezer = Freezer(scripts: Recording("db"));
        Assert.True((await freezer.FreezeAsync(CancellationToken.None)).Succeeded);
        var second = freezer.FreezeAsync(CancellationToken.None);
        await Task.Delay(300);
        Assert.False(second.IsCompleted, "a second freeze ran while the first was still in effect");
        Assert.True((await freezer.ThawAsync(CancellationToken.None)).Succeeded);
        Assert.True((await second.WaitAsync(TimeSpan.FromSeconds(60))).Succeeded);
        Assert.True((await freezer.ThawAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(["db freeze", "db thaw", "db freeze", "db thaw"], TrailLines());
    }

    [Fact]
    public async Task Without_hooks_the_freezer_is_not_configured_and_answers_ok()
    {
        await using var freezer = Freezer();
        Assert.False(freezer.Configured);
        Assert.Equal(HookResult.Success, await freezer.FreezeAsync(CancellationToken.None));
        Assert.Equal(HookResult.Success, await freezer.ThawAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Vss_is_Missing_off_Windows()
    {
        var vss = new VssHook();
        var r = await vss.FreezeAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal(HookOutcome.Missing, r.Outcome);
        if (!OperatingSystem.IsWindows()) Assert.Contains("VSS is only available on Windows", r.Detail);
    }
}
