using SiteRecovery.Actors.ReadModels;
using SiteRecovery.Contracts.Control;

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
        object[] events = [new DiskRegistered("d1", "vm", 1, "ps", "mt"), new ResyncRequired("d1", ResyncReason.CacheLost), new ResyncRequired("d1", ResyncReason.ChecksumMismatch)];
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
}
