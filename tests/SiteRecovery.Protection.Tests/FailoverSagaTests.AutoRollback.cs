using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>A planned failover's commit policy as the saga runs it, on a real journal, with the node's effects recorded.</summary>
public sealed partial class FailoverSagaTests
{
    /// <summary>A planned failover of <paramref name="machines"/> in one group with a commit policy, on a node whose minimum is 1 s.</summary>
    static async Task<FailoverJobView> PlannedAsync(Site site, string job, int autoRollbackSeconds, params string[] machines)
    {
        var steps = FailoverSteps.Build([new BootGroup(machines, [], [])], FailoverKind.Planned);
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Directory, new OpenFailover(job, "p1", FailoverKind.Planned, machines, 1)));
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob(job, "p1", 1, FailoverKind.Planned,
            new FailoverPointChoice("bookmark", Bookmark: $"planned-{job}"), steps, machines, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), null,
            autoRollbackSeconds, AutoRollbackMinimumSeconds: 1)));
        return await site.WaitAsync(job, v => v.Status is FailoverJobStatus.Completed or FailoverJobStatus.StepFailed or FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp);
    }

    [Fact]
    public async Task A_planned_failover_nobody_commits_rolls_itself_back_and_the_source_resumes()
    {
        var effects = new Recorder();
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        var completed = await PlannedAsync(site, "p-auto", 2, "m1", "m2");
        Assert.Equal(FailoverJobStatus.Completed, completed.Status);
        Assert.Equal(2, completed.AutoRollbackSeconds);
        Assert.Equal(completed.CompletedUnixMs + 2_000, completed.AutoRollbackAtUnixMs);

        var clean = await site.WaitAsync("p-auto", v => v.Status == FailoverJobStatus.CleanedUp);
        Assert.Equal("rollback: not committed within 2 s (commit policy)", clean.CleanupReason);
        Assert.Contains(clean.History, h => h.Contains("cleanup started: rollback: not committed within 2 s (commit policy)"));
        Assert.Equal(["stop-source 2 planned-p-auto", "resolve 2", "start m1,m2", "remove 2", "resume-source 2"], effects.Calls.ToArray());
        Assert.Empty(effects.Running);
        // The machines are free again.
        await WaitAcceptedAsync(() => site.Ask<CommandResult>(site.Directory, new OpenFailover("p-next", "p1", FailoverKind.Planned, ["m1"], 3)));
    }

    [Fact]
    public async Task A_commit_in_time_stops_the_commit_policy()
    {
        var effects = new Recorder();
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        Assert.Equal(FailoverJobStatus.Completed, (await PlannedAsync(site, "p-kept", 2, "m1")).Status);
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new CommitFailover("p-kept", 2)));

        await Task.Delay(TimeSpan.FromSeconds(3));
        var v = await site.Ask<FailoverJobView>(site.Jobs, new GetFailoverJob("p-kept"));
        Assert.Equal(FailoverJobStatus.Committed, v.Status);
        Assert.Null(v.AutoRollbackAtUnixMs);
        Assert.DoesNotContain(effects.Calls, c => c.StartsWith("resume-source") || c.StartsWith("remove"));
    }
}
