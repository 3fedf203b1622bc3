using SiteRecovery.Actors.ReadModels;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Contracts;

public class JobRulesTests
{
    static IReadOnlyDictionary<string, Job> Run(params object[] events)
    {
        IReadOnlyDictionary<string, Job> jobs = new Dictionary<string, Job>();
        var seq = 0L;
        foreach (var e in events) jobs = JobRules.Apply(jobs, e, 1000 + seq * 10, ++seq).Jobs;
        return jobs;
    }

    [Fact]
    public void Initial_replication_and_resync_jobs_start_and_finish_with_their_events()
    {
        var jobs = Run(
            new DiskRegistered("d1", "vm", 1 << 20, "ps", "mt"),
            new ResyncCompleted("d1", 10),
            new ResyncRequired("d1", ResyncReason.AgentRestartedWithoutTracking));
        var initial = Assert.Single(jobs.Values, j => j.Kind == "InitialReplication");
        Assert.Equal(JobState.Succeeded, initial.State);
        Assert.Equal(1010, initial.EndedUnixMs);
        var resync = Assert.Single(jobs.Values, j => j.Kind == "Resync");
        Assert.Equal(JobState.Running, resync.State);
        Assert.Contains("AgentRestartedWithoutTracking", resync.Detail);
    }

    [Fact]
    public void A_finished_resync_job_still_says_why_it_ran()
    {
        var jobs = Run(
            new DiskRegistered("d1", "vm", 1 << 20, "ps", "mt"),
            new ResyncCompleted("d1", 10),
            new ResyncRequired("d1", ResyncReason.OperatorRequest),
            new ResyncCompleted("d1", 20));
        var resync = Assert.Single(jobs.Values, j => j.Kind == "Resync");
        Assert.Equal(JobState.Succeeded, resync.State);
        Assert.Equal("reason OperatorRequest; complete at #20", resync.Detail);
    }

    [Fact]
    public void Replaying_the_same_events_gives_the_same_jobs_and_a_new_start_supersedes_a_running_one()
    {
        object[] events = [new DiskRegistered("d1", "vm", 1, "ps", "mt"), new ResyncRequired("d1", ResyncReason.StreamGap), new ResyncRequired("d1", ResyncReason.ChecksumMismatch)];
        Assert.Equal(Run(events).Values.OrderBy(j => j.Id), Run(events).Values.OrderBy(j => j.Id));
        var resyncs = Run(events).Values.Where(j => j.Kind == "Resync").OrderBy(j => j.StartedUnixMs).ToList();
        Assert.Equal(JobState.Failed, resyncs[0].State);
        Assert.Contains("superseded", resyncs[0].Error);
        Assert.Equal(JobState.Running, resyncs[1].State);
    }

    [Fact]
    public void Initial_replication_progress_follows_bytes_applied_and_never_goes_back()
    {
        var jobs = Run(
            new DiskRegistered("d1", "vm", 1000, "ps", "mt"),
            new ReplicationProgressRecorded("d1", 5, 0, 400),
            new ReplicationProgressRecorded("d1", 6, 0, 300),
            new ReplicationProgressRecorded("d1", 9, 0, 5000));
        var job = Assert.Single(jobs.Values, j => j.Kind == "InitialReplication");
        Assert.Equal(0.99, job.Progress);
        Assert.Equal(JobState.Running, job.State);
        var done = Run(new DiskRegistered("d1", "vm", 1000, "ps", "mt"), new ReplicationProgressRecorded("d1", 5, 0, 400), new ResyncCompleted("d1", 9));
        Assert.Equal(1, Assert.Single(done.Values, j => j.Kind == "InitialReplication").Progress);
    }

    [Fact]
    public void A_failover_job_moves_by_its_steps_shows_a_failed_step_and_its_cleanup_is_a_job_of_its_own()
    {
        IReadOnlyList<FailoverStepPlan> steps =
        [
            new(0, FailoverStepKind.ResolvePoint, "resolve", null, ["vm1"]),
            new(1, FailoverStepKind.StartGroup, "start boot group 1", 1, ["vm1"]),
            new(2, FailoverStepKind.DrillReport, "drill", null, ["vm1"]),
        ];
        var started = new FailoverJobStarted("j1", "p1", 1, FailoverKind.Test, new FailoverPointChoice("latest"), steps, ["vm1"], 1000, null);
        var jobs = Run(started, new FailoverStepSucceeded("j1", 0, 1, null), new FailoverStepFailed("j1", 1, 2, "vm1 did not boot"));
        var job = Assert.Single(jobs.Values);
        Assert.Equal(("TestFailover", JobState.Running), (job.Kind, job.State));
        Assert.Equal(1 / 3.0, job.Progress, 3);
        Assert.Equal("step 1 failed: vm1 did not boot", job.Error);

        jobs = Run(started, new FailoverStepSucceeded("j1", 0, 1, null), new FailoverStepSucceeded("j1", 1, 2, null),
            new FailoverDrillReported("j1", 2, new DrillReport("j1", "p1", "latest", 1, 2, 1, [], [], true, null)), new FailoverStepSucceeded("j1", 2, 3, null),
            new FailoverCleanupStarted("j1", "drill over", 4), new FailoverCleanedUp("j1", 5, ["machine vm1 stopped"]));
        var failover = Assert.Single(jobs.Values, j => j.Kind == "TestFailover");
        Assert.Equal(JobState.Succeeded, failover.State);
        Assert.Contains("drill passed", failover.Detail);
        var cleanup = Assert.Single(jobs.Values, j => j.Kind == "FailoverCleanup");
        Assert.Equal(JobState.Succeeded, cleanup.State);
    }

    [Fact]
    public void A_commits_move_onto_capturing_agents_is_a_job_that_names_what_it_could_not_move()
    {
        var running = Run(new FailoverCommittedWithCapture("j1", 10));
        Assert.Equal(("FailoverCommitCapture", JobState.Running), (Assert.Single(running.Values).Kind, Assert.Single(running.Values).State));

        var agent = new CaptureAgentRecord("vm1", 42, "/d/vm1/reverse-agent", "/d/vm1/reverse-agent/agent.log", "127.0.0.1:1", false);
        var done = Assert.Single(Run(new FailoverCommittedWithCapture("j1", 10),
            new FailoverCommitCaptured("j1", new CommitCapture([agent], [], [], ["vm2: not running"]), 20)).Values);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Contains("1 machine(s) on capturing agents", done.Detail);
        Assert.Contains("vm2: not running", done.Detail);

        var failed = Assert.Single(Run(new FailoverCommittedWithCapture("j1", 10), new FailoverCommitCaptureFailed("j1", "agent did not start", 20)).Values);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Contains("agent did not start", failed.Error);
    }
}
