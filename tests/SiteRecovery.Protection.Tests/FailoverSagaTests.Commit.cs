using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>The commit's capture as the saga runs it, on a real journal, with the node's effects recorded.</summary>
public sealed partial class FailoverSagaTests
{
    /// <summary>An unplanned failover of <paramref name="machines"/> in one group, completed; the commit is asked but not waited for.</summary>
    static async Task CommitAskedAsync(Site site, string job, params string[] machines)
    {
        var steps = FailoverSteps.Build([new BootGroup(machines, [], [])], FailoverKind.Unplanned);
        await site.Ask<CommandResult>(site.Directory, new OpenFailover(job, "p1", FailoverKind.Unplanned, machines, 1));
        await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob(job, "p1", 1, FailoverKind.Unplanned, new FailoverPointChoice("latest"), steps, machines, 1, null));
        await site.WaitAsync(job, v => v.Status == FailoverJobStatus.Completed);
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new CommitFailover(job, 2)));
    }

    async Task UntilCalledAsync(Recorder effects, string call)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!effects.Calls.Contains(call))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"'{call}' was not called: {string.Join(" | ", effects.Calls)}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_commit_moves_the_machines_onto_capturing_agents_before_a_reprotect_which_then_adopts_them()
    {
        var effects = new Recorder { BlockCapture = new TaskCompletionSource() };
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        await CommitAskedAsync(site, "j1", "m1", "m2");
        await UntilCalledAsync(effects, "capture 2");

        // Committed at once (nothing rolls it back any more), but the reprotect waits for the machines to be on their agents.
        var moving = await site.Ask<FailoverJobView>(site.Jobs, new GetFailoverJob("j1"));
        Assert.Equal(FailoverJobStatus.Committed, moving.Status);
        var early = Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3)));
        Assert.Contains("still moving its machines onto their capturing agents", early.Message);

        effects.BlockCapture!.SetResult();
        var captured = await site.WaitAsync("j1", v => v.History.Any(IsCaptureOutcome));
        Assert.Contains(captured.History, h => h.Contains("captured: m1 on agent pid 5 (nbd 127.0.0.1:5, moved while running)"));
        Assert.All(captured.Machines, m => Assert.StartsWith("nbd://127.0.0.1:5/", m.Disks.Single().Uri));
        Assert.All(captured.Boots, b => Assert.False(b.Restarted));

        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 4)));
        await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);
        Assert.Equal(["m1@5,m2@5"], effects.ReprotectedWithAgents.ToArray());
        Assert.Equal(["capture 2", "reprotect 2 to 127.0.0.1:9500"], effects.Calls.Where(c => c.StartsWith("capture") || c.StartsWith("reprotect")));
    }

    [Fact]
    public async Task A_machine_the_commit_cannot_capture_is_named_and_the_reprotect_starts_an_agent_for_it_alone()
    {
        var effects = new Recorder { CannotCapture = new HashSet<string> { "m2" } };
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        await CommitAskedAsync(site, "j1", "m1", "m2");
        var captured = await site.WaitAsync("j1", v => v.History.Any(IsCaptureOutcome));
        Assert.Contains(captured.History, h => h.Contains("not moved: m2: the agent did not start (it runs on its images; the reprotect moves it)"));
        Assert.Equal("nbd://127.0.0.1:1/x", captured.Machines.Single(m => m.MachineId == "m2").Disks.Single().Uri);

        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3)));
        await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);
        Assert.Equal(["m1@5"], effects.ReprotectedWithAgents.ToArray());
    }

    [Fact]
    public async Task A_node_that_stops_in_the_middle_of_a_commits_capture_repeats_it_when_it_comes_back_and_stays_committed()
    {
        var first = new Recorder { BlockCapture = new TaskCompletionSource() };
        await using (var site = new Site(_dir, first))
        {
            await site.StartAsync();
            await CommitAskedAsync(site, "j1", "m1", "m2");
            await UntilCalledAsync(first, "capture 2");
        }
        var second = new Recorder();
        await using (var site = new Site(_dir, second))
        {
            await site.StartAsync();
            // Nobody asks: the directory wakes the committed job, whose journal still owes the capture; it runs it again.
            var done = await site.WaitAsync("j1", v => v.History.Any(IsCaptureOutcome));
            Assert.Equal(["capture 2"], second.Calls.ToArray());
            Assert.Equal(FailoverJobStatus.Committed, done.Status);
            Assert.DoesNotContain(done.History, h => h.Contains("interrupted") || h.Contains("cleanup"));
            Assert.Contains("reprotect and fail back", Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new RollbackFailover("j1", "undo", 3))).Message);
        }
    }
}
