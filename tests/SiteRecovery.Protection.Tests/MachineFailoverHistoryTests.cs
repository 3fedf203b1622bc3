using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>Where a machine is after its failover jobs, and the order its history is shown in.</summary>
public sealed class MachineFailoverHistoryTests
{
    static (FailoverEntry, FailoverJobView) Job(string jobId, FailoverKind kind, FailoverJobStatus status, long opened, string[]? machines = null,
        bool? open = null, string? processServer = null, params string[] history)
    {
        var closed = status is FailoverJobStatus.CleanedUp or FailoverJobStatus.FailedBack;
        var committed = status is FailoverJobStatus.Committed or FailoverJobStatus.Reprotecting or FailoverJobStatus.Reprotected
            or FailoverJobStatus.FailingBack or FailoverJobStatus.FailedBack;
        var entry = new FailoverEntry(jobId, "plan-" + jobId, kind, machines ?? ["vm1"], opened, open ?? !closed, committed);
        var view = new FailoverJobView(jobId, status != FailoverJobStatus.NotStarted, entry.PlanId, kind, new FailoverPointChoice("latest"), status, [], [], [], [], null,
            opened, null, null, null, null, history.Length == 0 ? [$"{jobId} requested"] : history)
        {
            Reverse = processServer is null ? null : new ReverseTarget(processServer, "http://orig:8080"),
        };
        return (entry, view);
    }

    [Fact]
    public void A_machine_no_job_holds_is_not_failed_over_with_an_empty_list()
    {
        var s = MachineFailoverHistory.Summarize("vm-x", [Job("j1", FailoverKind.Test, FailoverJobStatus.Completed, 100, machines: ["vm1", "vm2"])]);
        Assert.Equal("not failed over", s.State);
        Assert.Equal(MachineFailoverPosition.NotFailedOver, s.Position);
        Assert.Null(s.JobId);
        Assert.Empty(s.Failovers);
        Assert.Empty(MachineFailoverHistory.Summarize("vm-x", []).Failovers);
    }

    public static TheoryData<FailoverKind, FailoverJobStatus, MachineFailoverPosition, string> States => new()
    {
        { FailoverKind.Test, FailoverJobStatus.Running, MachineFailoverPosition.InTestFailover, "in a test failover (job j1)" },
        { FailoverKind.Test, FailoverJobStatus.Completed, MachineFailoverPosition.InTestFailover, "in a test failover (job j1)" },
        { FailoverKind.Test, FailoverJobStatus.CleaningUp, MachineFailoverPosition.InTestFailover, "in a test failover (job j1)" },
        { FailoverKind.Test, FailoverJobStatus.CleanedUp, MachineFailoverPosition.NotFailedOver, "not failed over" },
        { FailoverKind.Planned, FailoverJobStatus.StepFailed, MachineFailoverPosition.FailingOver, "failing over (job j1, not committed)" },
        { FailoverKind.Unplanned, FailoverJobStatus.Completed, MachineFailoverPosition.FailingOver, "failing over (job j1, not committed)" },
        { FailoverKind.Unplanned, FailoverJobStatus.WaitingForOperator, MachineFailoverPosition.FailingOver, "failing over (job j1, not committed)" },
        { FailoverKind.Planned, FailoverJobStatus.CleanedUp, MachineFailoverPosition.NotFailedOver, "not failed over" },
        { FailoverKind.Planned, FailoverJobStatus.Committed, MachineFailoverPosition.FailedOver, "failed over (job j1, committed)" },
        { FailoverKind.Unplanned, FailoverJobStatus.Committed, MachineFailoverPosition.FailedOver, "failed over (job j1, committed)" },
        { FailoverKind.Planned, FailoverJobStatus.Reprotecting, MachineFailoverPosition.Reprotecting, "failed over (job j1, committed), reprotecting to ps-orig:9000" },
        { FailoverKind.Planned, FailoverJobStatus.Reprotected, MachineFailoverPosition.Reprotected, "reprotected to ps-orig:9000 (job j1)" },
        { FailoverKind.Planned, FailoverJobStatus.FailingBack, MachineFailoverPosition.FailingBack, "reprotected to ps-orig:9000 (job j1), failing back" },
        { FailoverKind.Planned, FailoverJobStatus.FailedBack, MachineFailoverPosition.FailedBack, "failed back (job j1)" },
        { FailoverKind.Planned, FailoverJobStatus.Returning, MachineFailoverPosition.Returning, "failed back (job j1), starting at the original site" },
        { FailoverKind.Unplanned, FailoverJobStatus.Returned, MachineFailoverPosition.Returned, "failed back and running at the original site (job j1)" },
    };

    [Theory]
    [MemberData(nameof(States))]
    public void One_job_puts_the_machine_where_its_status_says(FailoverKind kind, FailoverJobStatus status, MachineFailoverPosition want, string wantState)
    {
        var s = MachineFailoverHistory.Summarize("vm1", [Job("j1", kind, status, 100, processServer: "ps-orig:9000")]);
        Assert.True(want == s.Position, $"position: got {s.Position}, want {want}");
        Assert.True(wantState == s.State, $"state: got '{s.State}', want '{wantState}'");
        Assert.Equal(want == MachineFailoverPosition.NotFailedOver ? null : "j1", s.JobId);
        Assert.Single(s.Failovers);
    }

    [Fact]
    public void A_job_opened_but_not_started_claims_the_machine_and_one_closed_before_it_started_does_not()
    {
        Assert.Equal(MachineFailoverPosition.FailingOver,
            MachineFailoverHistory.Summarize("vm1", [Job("j1", FailoverKind.Planned, FailoverJobStatus.NotStarted, 100, open: true)]).Position);
        Assert.Equal(MachineFailoverPosition.NotFailedOver,
            MachineFailoverHistory.Summarize("vm1", [Job("j1", FailoverKind.Planned, FailoverJobStatus.NotStarted, 100, open: false)]).Position);
    }

    [Fact]
    public void Every_job_of_the_machine_is_listed_newest_first_with_its_status_and_history()
    {
        var s = MachineFailoverHistory.Summarize("vm1",
        [
            Job("drill-1", FailoverKind.Test, FailoverJobStatus.CleanedUp, 100, history: ["a", "b"]),
            Job("other", FailoverKind.Test, FailoverJobStatus.Completed, 250, machines: ["vm2"]),
            Job("planned-1", FailoverKind.Planned, FailoverJobStatus.Committed, 300, machines: ["vm2", "vm1"], history: ["requested", "committed"]),
            Job("drill-2", FailoverKind.Test, FailoverJobStatus.CleanedUp, 200),
        ]);
        Assert.Equal(["planned-1", "drill-2", "drill-1"], s.Failovers.Select(f => f.JobId));
        Assert.Equal(FailoverJobStatus.Committed, s.Failovers[0].Status);
        Assert.True(s.Failovers[0].Committed);
        Assert.Equal(["requested", "committed"], s.Failovers[0].History);
        Assert.Equal(["a", "b"], s.Failovers[2].History);
        Assert.Equal("plan-planned-1", s.Failovers[0].PlanId);
        Assert.Equal(300, s.Failovers[0].OpenedUnixMs);
    }

    [Fact]
    public void Jobs_opened_in_the_same_millisecond_are_ordered_by_job_id_whatever_order_they_come_in()
    {
        var a = Job("a", FailoverKind.Test, FailoverJobStatus.CleanedUp, 100);
        var b = Job("b", FailoverKind.Test, FailoverJobStatus.CleanedUp, 100);
        Assert.Equal(["b", "a"], MachineFailoverHistory.Summarize("vm1", [a, b]).Failovers.Select(f => f.JobId));
        Assert.Equal(["b", "a"], MachineFailoverHistory.Summarize("vm1", [b, a]).Failovers.Select(f => f.JobId));
    }

    [Fact]
    public void A_cleaned_up_job_leaves_the_machine_where_the_older_job_put_it()
    {
        var s = MachineFailoverHistory.Summarize("vm1",
        [
            Job("planned-1", FailoverKind.Planned, FailoverJobStatus.Reprotected, 100, processServer: "ps-orig:9000"),
            Job("drill-1", FailoverKind.Test, FailoverJobStatus.CleanedUp, 200),
            Job("rolled-back", FailoverKind.Unplanned, FailoverJobStatus.CleanedUp, 300),
        ]);
        Assert.Equal("reprotected to ps-orig:9000 (job planned-1)", s.State);
        Assert.Equal("planned-1", s.JobId);
        Assert.Equal(3, s.Failovers.Count);
    }

    [Fact]
    public void The_newest_job_that_moved_the_machine_decides_over_an_older_failback()
    {
        var back = Job("planned-1", FailoverKind.Planned, FailoverJobStatus.FailedBack, 100, processServer: "ps-orig:9000");
        Assert.Equal("failed back (job planned-1)", MachineFailoverHistory.Summarize("vm1", [back]).State);
        Assert.Equal("failed back (job planned-1)",
            MachineFailoverHistory.Summarize("vm1", [back, Job("drill-1", FailoverKind.Test, FailoverJobStatus.CleanedUp, 200)]).State);
        Assert.Equal("in a test failover (job drill-2)",
            MachineFailoverHistory.Summarize("vm1", [back, Job("drill-2", FailoverKind.Test, FailoverJobStatus.Running, 300)]).State);
        Assert.Equal("failed over (job planned-2, committed)",
            MachineFailoverHistory.Summarize("vm1", [back, Job("planned-2", FailoverKind.Planned, FailoverJobStatus.Committed, 400)]).State);
    }

    [Fact]
    public void The_status_is_the_jobs_own_not_the_directorys_flags_which_follow_a_moment_later()
    {
        // The job committed; the directory has not yet marked it.
        var (entry, view) = Job("planned-1", FailoverKind.Planned, FailoverJobStatus.Committed, 100);
        var s = MachineFailoverHistory.Summarize("vm1", [(entry with { Committed = false }, view)]);
        Assert.Equal(MachineFailoverPosition.FailedOver, s.Position);
        Assert.True(s.Failovers[0].Committed);
    }

    [Fact]
    public void A_reprotect_without_a_recorded_target_still_names_the_original_site()
    {
        var s = MachineFailoverHistory.Summarize("vm1", [Job("planned-1", FailoverKind.Planned, FailoverJobStatus.Reprotected, 100)]);
        Assert.Equal("reprotected to the original site (job planned-1)", s.State);
    }

    [Fact]
    public void Machine_ids_match_exactly()
    {
        var s = MachineFailoverHistory.Summarize("VM1", [Job("j1", FailoverKind.Planned, FailoverJobStatus.Committed, 100, machines: ["vm1", "vm10"])]);
        Assert.Equal(MachineFailoverPosition.NotFailedOver, s.Position);
        Assert.Empty(s.Failovers);
    }
}
