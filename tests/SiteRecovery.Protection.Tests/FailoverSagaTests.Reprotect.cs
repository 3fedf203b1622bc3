using Akka.Actor;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>Reprotect and failback as the saga records them, on a real journal, with the node's effects recorded.</summary>
public sealed partial class FailoverSagaTests
{
    static readonly ReverseTarget Original = new("127.0.0.1:9500", "http://127.0.0.1:9700");

    /// <summary>An unplanned failover of three machines in one group, completed and committed.</summary>
    static async Task CommittedAsync(Site site, string job, params string[] machines)
    {
        var steps = FailoverSteps.Build([new BootGroup(machines, [], [])], FailoverKind.Unplanned);
        await site.Ask<CommandResult>(site.Directory, new OpenFailover(job, "p1", FailoverKind.Unplanned, machines, 1));
        await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob(job, "p1", 1, FailoverKind.Unplanned, new FailoverPointChoice("latest"), steps, machines, 1, null));
        await site.WaitAsync(job, v => v.Status == FailoverJobStatus.Completed);
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new CommitFailover(job, 2)));
        // The commit's follow-up: the machines move onto their capturing agents before anything else moves them.
        await site.WaitAsync(job, v => v.History.Any(IsCaptureOutcome));
    }

    static bool IsCaptureOutcome(string line) => line.Contains("Z captured: ", StringComparison.Ordinal) || line.Contains("Z capture failed: ", StringComparison.Ordinal);

    [Fact]
    public async Task A_committed_failover_is_reprotected_then_failed_back_and_its_machines_are_free_again()
    {
        var effects = new Recorder();
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        await CommittedAsync(site, "j1", "m1", "m2", "m3");

        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3)));
        var reprotected = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);
        Assert.Equal(["m1", "m2", "m3"], reprotected.ReverseMachines.Select(m => m.MachineId));
        Assert.Equal(Original, reprotected.Reverse);
        // The machines run on the reverse agents now: their records were replaced, not added.
        Assert.Equal(3, reprotected.Machines.Count);
        Assert.All(reprotected.Machines, m => Assert.EndsWith("-r", m.InstanceId));
        Assert.Contains(reprotected.History, h => h.Contains("reprotected: m1-d0 1024 of 1048576 bytes moved"));

        // Still claimed: no other failover of these machines while they replicate back.
        var again = await site.Ask<CommandResult>(site.Directory, new OpenFailover("j2", "p1", FailoverKind.Test, ["m2"], 4));
        Assert.Contains("is failed over", Assert.IsType<CommandResult.Rejected>(again).Message);

        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 5)));
        var back = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.FailedBack);
        Assert.Equal(["m1-d0", "m2-d0", "m3-d0"], back.FailbackDisks.Select(d => d.DiskId));
        Assert.Equal(["reprotect 3 to 127.0.0.1:9500", "failback 3 to http://127.0.0.1:9700"], effects.Calls.Where(c => c.StartsWith("reprotect") || c.StartsWith("failback")));

        // Failed back: the machines are free for the next failover.
        await WaitAcceptedAsync(() => site.Ask<CommandResult>(site.Directory, new OpenFailover("j3", "p1", FailoverKind.Test, ["m2"], 6)));
        var twice = Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 7)));
        Assert.Contains("has failed back already", twice.Message);
    }

    [Fact]
    public async Task A_failback_that_returns_its_machines_keeps_them_claimed_until_they_run_at_the_original_site_and_resumes_after_a_restart()
    {
        await using (var site = new Site(_dir, new Recorder { FailReturn = 1 }))
        {
            await site.StartAsync();
            await CommittedAsync(site, "j1", "m1", "m2");
            await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3));
            await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);
            Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 5, Return: true)));
            // The first return fails: the job stays failed back, its disks at the original site, and says why.
            var failed = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.FailedBack && v.History.Any(h => h.Contains("return failed")));
            Assert.Contains(failed.History, h => h.Contains("return failed: the original site's machine did not boot"));
            Assert.Empty(failed.Returned);
            Assert.Equal(2, failed.FailbackDisks.Count);
            Assert.Contains("does not exist", Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new ReturnMachines("nope", 6))).Message);
        }
        // Asked again, on a node that stops before the return is done: the next start does it (safe to repeat).
        await using (var site = new Site(_dir, new Recorder { BlockReverse = new TaskCompletionSource() }))
        {
            await site.StartAsync();
            Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ReturnMachines("j1", 7)));
            await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Returning);
            var claimed = await site.Ask<CommandResult>(site.Directory, new OpenFailover("j2", "p1", FailoverKind.Test, ["m1"], 8));
            Assert.IsType<CommandResult.Rejected>(claimed);
        }
        var third = new Recorder();
        await using (var site = new Site(_dir, third))
        {
            await site.StartAsync();
            var done = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Returned);
            Assert.Equal(["return 2 to http://127.0.0.1:9700"], third.Calls.ToArray());
            Assert.Equal(["m1", "m2"], done.Returned.Select(r => r.MachineId));
            Assert.Contains(done.History, h => h.Contains("returned: m1 runs at http://127.0.0.1:9700 (booted in 0.2 s), m1-d0 2048 of 1048576 bytes moved back"));
            var twice = Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new ReturnMachines("j1", 9)));
            Assert.Contains("has returned its machines already", twice.Message);
            Assert.Contains("has failed back already", Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 9, Return: true))).Message);
            // Returned: the machines are free for the next failover.
            await WaitAcceptedAsync(() => site.Ask<CommandResult>(site.Directory, new OpenFailover("j3", "p1", FailoverKind.Test, ["m2"], 10)));
        }
    }

    [Fact]
    public async Task A_failed_reprotect_returns_to_committed_and_can_be_asked_again_a_failed_failback_stays_reprotected()
    {
        var effects = new Recorder { FailReverse = 1 };
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        await CommittedAsync(site, "j1", "m1");

        await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3));
        var failed = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Committed && v.History.Any(h => h.Contains("reprotect failed")));
        Assert.Contains(failed.History, h => h.Contains("reprotect failed: the original site's process server refused the connection"));
        Assert.Empty(failed.ReverseMachines);
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 4)));
        await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);

        effects.FailReverse = 1;
        await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 5));
        var stayed = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected && v.History.Any(h => h.Contains("failback failed")));
        Assert.Empty(stayed.FailbackDisks);
        await site.Ask<CommandResult>(site.Jobs, new FailbackFailover("j1", 6));
        await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.FailedBack);
    }

    [Fact]
    public async Task A_node_that_stops_in_the_middle_of_a_reprotect_resumes_it_when_it_comes_back()
    {
        await using (var site = new Site(_dir, new Recorder { BlockReverse = new TaskCompletionSource() }))
        {
            await site.StartAsync();
            await CommittedAsync(site, "j1", "m1", "m2");
            await site.Ask<CommandResult>(site.Jobs, new ReprotectFailover("j1", Original, 3));
            await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotecting);
        }
        var second = new Recorder();
        await using (var site = new Site(_dir, second))
        {
            await site.StartAsync();
            // Nobody asks: the directory wakes the committed job, which does its reprotect again (safe to repeat), never a rollback.
            var done = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Reprotected);
            Assert.Equal(["reprotect 2 to 127.0.0.1:9500"], second.Calls.ToArray());
            Assert.DoesNotContain(done.History, h => h.Contains("interrupted") || h.Contains("cleanup"));
        }
    }

    [Fact]
    public async Task Reprotect_and_failback_refuse_what_is_not_their_turn_and_bad_targets_naming_them()
    {
        await using var site = new Site(_dir, new Recorder());
        await site.StartAsync();
        async Task<string> Refused(IFailoverJobCommand c) => Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, c)).Message;

        Assert.Contains("does not exist", await Refused(new ReprotectFailover("nope", Original, 1)));
        var steps = FailoverSteps.Build([new BootGroup(["m1"], [], [])], FailoverKind.Unplanned);
        await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob("j1", "p1", 1, FailoverKind.Unplanned, new FailoverPointChoice("latest"), steps, ["m1"], 1, null));
        await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.Completed);
        Assert.Contains("is not committed: commit it first", await Refused(new ReprotectFailover("j1", Original, 2)));
        Assert.Contains("only a reprotected failover", await Refused(new FailbackFailover("j1", 2)));
        await site.Ask<CommandResult>(site.Jobs, new CommitFailover("j1", 3));
        Assert.Contains("not reprotected: its machines' writes would not reach the original site", await Refused(new FailbackFailover("j1", 4)));
        Assert.Contains("only a failed-back job's machines (FailedBack) can return", await Refused(new ReturnMachines("j1", 4)));
        Assert.Contains("Target.ProcessServer must be HOST:PORT", await Refused(new ReprotectFailover("j1", Original with { ProcessServer = "onprem" }, 4)));
        Assert.Contains("port in 1..65535 (was 'h:70000')", await Refused(new ReprotectFailover("j1", Original with { ProcessServer = "h:70000" }, 4)));
        Assert.Contains("Target.Api must be the http(s) URL", await Refused(new ReprotectFailover("j1", Original with { Api = "ftp://x" }, 4)));
        Assert.Contains("reprotect and fail back instead of rolling back", await Refused(new RollbackFailover("j1", "oops", 4)));
        var view = await site.Ask<FailoverJobView>(site.Jobs, new GetFailoverJob("j1"));
        Assert.Equal(FailoverJobStatus.Committed, view.Status);
        Assert.Null(view.Reverse);

        var test = FailoverSteps.Build([new BootGroup(["m9"], [], [])], FailoverKind.Test);
        await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob("t1", "p1", 1, FailoverKind.Test, new FailoverPointChoice("latest"), test, ["m9"], 1, null));
        await site.WaitAsync("t1", v => v.Status == FailoverJobStatus.Completed);
        Assert.Contains("test failover: only a committed planned or unplanned failover is reprotected", await Refused(new ReprotectFailover("t1", Original, 5)));
    }
}
