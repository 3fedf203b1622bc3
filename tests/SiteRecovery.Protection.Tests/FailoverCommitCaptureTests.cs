using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>
/// The commit's capture in the pure state: a commit owes the move of its machines onto capturing agents, nothing else
/// moves them until its outcome is recorded, and a journal from before commits captured loads as a commit owing nothing.
/// </summary>
public sealed class FailoverCommitCaptureTests
{
    const string J = "job1";
    static readonly ReverseTarget Original = new("orig:9500", "http://orig:9700");

    static readonly StartedMachineRecord OnAgent = new("local", "vm1", "vm1", "i-vm1", 100, "/tmp/vm1.console", "tcg", 2_000,
        [new ServedDiskRecord("vm1-d", "reverse-agent", "nbd://127.0.0.1:41/vm1-d", 0, 1 << 20)]);

    static readonly CommitCapture Capture = new([new CaptureAgentRecord("vm1", 4242, "/w/vm1/reverse-agent", "/w/vm1/reverse-agent/agent.log", "127.0.0.1:41", false)],
        [OnAgent], [new MachineBootRecord("vm1", true, 12_000, 0.4, null, null, []) { Restarted = false }], ["vm2: the agent exited before serving its disks"]);

    /// <summary>The committed planned failover of the saga's properties, as its journal leaves it now: committed, capture owed.</summary>
    static FailoverJobState Committed() => FailoverJobProperties.Committed();

    [Fact]
    public void A_commit_owes_the_capture_and_no_reprotect_runs_until_its_outcome_is_recorded()
    {
        var committed = Committed();
        Assert.True(committed.CaptureOwed);
        Assert.IsType<FailoverNext.Capture>(committed.Next());
        Assert.Contains(committed.History, h => h.EndsWith("each moves onto an agent here that captures its writes", StringComparison.Ordinal));
        var early = committed.Decide(new ReprotectFailover(J, Original, 11)).Rejection!;
        Assert.Equal(RejectionReason.InvalidState, early.Reason);
        Assert.Contains("still moving its machines onto their capturing agents", early.Message);
        // Committed is final: neither a rollback nor a node restart undoes it while the capture is owed.
        Assert.NotNull(committed.Decide(new RollbackFailover(J, "oops", 11)).Rejection);
        Assert.Empty(committed.Decide(new InterruptFailover(J, null, "node restarted", 11)).Events);
        Assert.Empty(committed.Decide(new CommitFailover(J, 11)).Events);

        var captured = FailoverJobProperties.Run(committed, new RecordCommitCaptured(J, Capture, 12_000));
        Assert.False(captured.CaptureOwed);
        Assert.Equal(FailoverJobStatus.Committed, captured.Status);
        Assert.IsType<FailoverNext.Wait>(captured.Next());
        Assert.Equal("vm1@4242", string.Join(",", captured.CaptureAgents.Select(a => $"{a.MachineId}@{a.AgentPid}")));
        // The machine's record is replaced by the one on the agent's exports; the others stay as they were.
        Assert.Equal(3, captured.Started.Count);
        Assert.Equal("nbd://127.0.0.1:41/vm1-d", captured.Started.Single(m => m.MachineId == "vm1").Disks.Single().Uri);
        Assert.Equal("nbd://x", captured.Started.Single(m => m.MachineId == "vm2").Disks.Single().Uri);
        var line = captured.History.Last();
        Assert.Contains("captured: vm1 on agent pid 4242 (nbd 127.0.0.1:41, moved while running)", line);
        Assert.Contains("not moved: vm2: the agent exited before serving its disks", line);
        // Recorded once: a late second outcome (a repeat after a restart whose first answer was recorded) is refused.
        Assert.Equal(RejectionReason.InvalidState, captured.Decide(new RecordCommitCaptured(J, Capture, 12_500)).Rejection!.Reason);
        Assert.Equal(RejectionReason.InvalidState, captured.Decide(new FailCommitCapture(J, "late", 12_500)).Rejection!.Reason);

        var reprotecting = FailoverJobProperties.Run(captured, new ReprotectFailover(J, Original, 13_000));
        Assert.Equal(new FailoverNext.Reprotect(Original), reprotecting.Next());
        Assert.Single(reprotecting.CaptureAgents);
    }

    [Fact]
    public void A_failed_capture_leaves_the_job_committed_for_a_reprotect_that_starts_its_own_agents()
    {
        var failed = FailoverJobProperties.Run(Committed(), new FailCommitCapture(J, "", 12_000));
        Assert.False(failed.CaptureOwed);
        Assert.Empty(failed.CaptureAgents);
        Assert.Equal(FailoverJobStatus.Committed, failed.Status);
        Assert.Contains("capture failed: failed (the machines run on their images; the reprotect moves them onto agents)", failed.History.Last());
        Assert.Null(failed.Decide(new ReprotectFailover(J, Original, 13_000)).Rejection);
    }

    [Fact]
    public void A_journal_committed_before_commits_captured_owes_no_capture_and_reprotects_the_old_way()
    {
        // Replay the first version of the commit event, as an old journal holds it.
        var completed = FailoverJobProperties.Committed();
        var old = completed with { Status = FailoverJobStatus.Completed, CaptureOwed = false };
        var replayed = old.Apply(new FailoverCommitted(J, 10));
        Assert.Equal(FailoverJobStatus.Committed, replayed.Status);
        Assert.False(replayed.CaptureOwed);
        Assert.Empty(replayed.CaptureAgents);
        Assert.IsType<FailoverNext.Wait>(replayed.Next());
        Assert.Null(replayed.Decide(new ReprotectFailover(J, Original, 11)).Rejection);
        Assert.Equal(RejectionReason.InvalidState, replayed.Decide(new RecordCommitCaptured(J, Capture, 11)).Rejection!.Reason);
    }

    [Fact]
    public void A_commit_records_the_second_version_of_its_event_and_a_test_failover_is_still_never_committed()
    {
        var beforeCommit = FailoverJobProperties.Committed() with { Status = FailoverJobStatus.Completed, CaptureOwed = false };
        Assert.IsType<FailoverCommittedWithCapture>(Assert.Single(beforeCommit.Decide(new CommitFailover(J, 10)).Events));
        var test = FailoverJobProperties.Run(FailoverJobProperties.Start());
        Assert.Contains("never committed", test.Decide(new CommitFailover(J, 1)).Rejection!.Message);
        Assert.NotNull(test.Decide(new RecordCommitCaptured(J, Capture, 2)).Rejection);
    }
}
