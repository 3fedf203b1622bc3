using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Tests.Consistency;

/// <summary>The coordinator's pure state machine, case by case, and the disk aggregate's rule on flagged points.</summary>
public sealed class GroupBookmarkStateTests
{
    static readonly Dictionary<string, IReadOnlyList<string>> Two = new() { ["vm1"] = ["a1", "a2"], ["vm2"] = ["b1"] };
    static Dictionary<string, long> Seq(params (string Disk, long Seq)[] s) => s.ToDictionary(x => x.Disk, x => x.Seq);

    static GroupBookmarkState HeldBoth(bool app = false, string? freezeFailure = null)
    {
        var s = GroupBookmarkState.Start("gb", app, 42, Two);
        (s, var a1) = s.Step(new HeldReported("vm1", Seq(("a1", 10), ("a2", 20)), null, null));
        Assert.Null(a1);
        (s, var a2) = s.Step(new HeldReported("vm2", Seq(("b1", 5)), null, freezeFailure));
        Assert.IsType<SendCommits>(a2);
        return s;
    }

    [Fact]
    public void Commits_only_after_every_machine_holds_and_records_one_point_per_disk_once_all_markers_are_durable()
    {
        var s = HeldBoth();
        (s, var a) = s.Step(new CommitReported("vm1", true, Seq(("a1", 11), ("a2", 21)), 1, null));
        Assert.Null(a);
        (s, a) = s.Step(new CommitReported("vm2", true, Seq(("b1", 6)), 1, null));
        Assert.Null(a);
        Assert.Equal(GroupBookmarkPhase.AwaitingDurable, s.Phase);
        (s, a) = s.Step(new MarkerDurable("a1", 11));
        (s, a) = s.Step(new MarkerDurable("b1", 6));
        Assert.Null(a);
        (s, a) = s.Step(new MarkerDurable("a2", 21));
        var points = Assert.IsType<RecordPoints>(a).Points;
        Assert.Equal([("a1", 11L), ("a2", 21L), ("b1", 6L)], points.Select(p => (p.DiskId, p.Sequence)).ToList());
        Assert.All(points, p => Assert.Equal(("gb", 42L, RecoveryPointKind.CrashConsistent), (p.BookmarkId, p.TimeUnixMs, p.Kind)));
    }

    [Fact]
    public void A_refusal_aborts_at_once_and_later_answers_change_nothing()
    {
        var s = GroupBookmarkState.Start("gb", false, 42, Two);
        (s, var a) = s.Step(new HeldReported("vm2", new Dictionary<string, long>(), "disk b1 resyncing", null));
        Assert.Equal(GroupAbortReason.HoldRefused, Assert.IsType<SendAborts>(a).Reason);
        (s, a) = s.Step(new HeldReported("vm1", Seq(("a1", 10), ("a2", 20)), null, null));
        Assert.Null(a);
        Assert.Equal(GroupBookmarkPhase.Aborted, s.Phase);
    }

    [Fact]
    public void A_silent_machine_times_the_hold_out_and_a_marker_not_right_after_the_hold_fails_the_commit()
    {
        var s = GroupBookmarkState.Start("gb", false, 42, Two);
        (s, _) = s.Step(new HeldReported("vm1", Seq(("a1", 10), ("a2", 20)), null, null));
        var (timedOut, a) = s.Step(new PhaseTimedOut());
        Assert.Equal(GroupAbortReason.HoldTimedOut, Assert.IsType<SendAborts>(a).Reason);
        Assert.Contains("vm2", timedOut.AbortDetail);

        var held = HeldBoth();
        var (_, wrong) = held.Step(new CommitReported("vm1", true, Seq(("a1", 12), ("a2", 21)), 1, null));
        Assert.Equal(GroupAbortReason.CommitFailed, Assert.IsType<SendAborts>(wrong).Reason);
        var (_, expired) = held.Step(new CommitReported("vm2", false, new Dictionary<string, long>(), 0, "hold already ended"));
        Assert.Equal(GroupAbortReason.CommitFailed, Assert.IsType<SendAborts>(expired).Reason);
    }

    [Fact]
    public void App_consistency_is_claimed_only_when_every_freeze_succeeded()
    {
        Assert.Equal(RecoveryPointKind.AppConsistent, HeldBoth(app: true).Kind);
        var failed = HeldBoth(app: true, freezeFailure: "vm2: freeze TimedOut");
        Assert.Equal(RecoveryPointKind.CrashConsistent, failed.Kind);
        Assert.Equal("vm2: freeze TimedOut", failed.AppConsistencyFailure);
        Assert.Null(HeldBoth(app: false, freezeFailure: "ignored").AppConsistencyFailure);
    }

    [Fact]
    public void A_disk_refuses_a_point_that_claims_app_consistency_with_a_failure_and_keeps_the_flag_otherwise()
    {
        var disk = ProtectedDiskState.Empty("d1");
        disk = disk.Decide(new RegisterDisk("d1", "vm1", 1 << 20, "ps", "mt")).Events.Aggregate(disk, (s, e) => s.Apply(e));
        var bad = disk.Decide(new RecordRecoveryPoint("d1", "gb", 3, 10, RecoveryPointKind.AppConsistent, "vm1: freeze Failed"));
        Assert.True(bad.IsRejected);
        Assert.Contains("AppConsistencyFailure", bad.Rejection!.Message);
        var ok = disk.Decide(new RecordRecoveryPoint("d1", "gb", 3, 10, RecoveryPointKind.CrashConsistent, "vm1: freeze Failed"));
        var after = ok.Events.Aggregate(disk, (s, e) => s.Apply(e));
        Assert.Equal("vm1: freeze Failed", Assert.Single(after.RecoveryPoints).AppConsistencyFailure);
    }

    [Fact]
    public void Each_disks_point_names_its_own_machines_failure_kind_and_a_healthy_member_gets_group_member_failed()
    {
        var s = GroupBookmarkState.Start("gb", true, 42, Two);
        (s, _) = s.Step(new HeldReported("vm1", Seq(("a1", 10), ("a2", 20)), null, null));
        (s, _) = s.Step(new HeldReported("vm2", Seq(("b1", 5)), null, "agent vm2: freeze TimedOut: fsfreeze /data", FreezeFailureKind: AppConsistencyFailure.HookTimedOut));
        (s, _) = s.Step(new CommitReported("vm1", true, Seq(("a1", 11), ("a2", 21)), 1, null));
        (s, _) = s.Step(new CommitReported("vm2", true, Seq(("b1", 6)), 1, null));
        foreach (var (disk, seq) in new[] { ("a1", 11L), ("a2", 21L) }) (s, _) = s.Step(new MarkerDurable(disk, seq));
        var (_, a) = s.Step(new MarkerDurable("b1", 6));
        var points = Assert.IsType<RecordPoints>(a).Points.ToDictionary(p => p.DiskId);
        Assert.All(points.Values, p => Assert.Equal((RecoveryPointKind.CrashConsistent, "agent vm2: freeze TimedOut: fsfreeze /data"), (p.Kind, p.AppConsistencyFailure)));
        Assert.Equal(AppConsistencyFailure.HookTimedOut, points["b1"].AppConsistencyFailureKind);
        Assert.Equal(AppConsistencyFailure.GroupMemberFailed, points["a1"].AppConsistencyFailureKind);
        Assert.Equal(AppConsistencyFailure.GroupMemberFailed, points["a2"].AppConsistencyFailureKind);

        // An agent that reports a failure without its kind (older than the field): the text is all there is.
        var legacy = HeldBoth(app: true, freezeFailure: "vm2: freeze TimedOut");
        Assert.Null(legacy.FailureKindOf("vm2"));
        Assert.Equal(AppConsistencyFailure.GroupMemberFailed, legacy.FailureKindOf("vm1"));
        Assert.Null(HeldBoth(app: true).FailureKindOf("vm1"));
    }

    [Fact]
    public void A_disk_refuses_a_failure_kind_without_its_text_or_out_of_range_and_keeps_it_otherwise()
    {
        var disk = ProtectedDiskState.Empty("d1");
        disk = disk.Decide(new RegisterDisk("d1", "vm1", 1 << 20, "ps", "mt")).Events.Aggregate(disk, (s, e) => s.Apply(e));
        var bare = disk.Decide(new RecordRecoveryPoint("d1", "gb", 3, 10, RecoveryPointKind.CrashConsistent, null, AppConsistencyFailure.HookFailed));
        Assert.True(bare.IsRejected);
        Assert.Contains("AppConsistencyFailureKind", bare.Rejection!.Message);
        var undefined = disk.Decide(new RecordRecoveryPoint("d1", "gb", 3, 10, RecoveryPointKind.CrashConsistent, "x", (AppConsistencyFailure)99));
        Assert.True(undefined.IsRejected);
        Assert.Contains("AppConsistencyFailureKind", undefined.Rejection!.Message);
        var ok = disk.Decide(new RecordRecoveryPoint("d1", "gb", 3, 10, RecoveryPointKind.CrashConsistent, "vm1: freeze Missing", AppConsistencyFailure.HookMissing));
        var after = ok.Events.Aggregate(disk, (s, e) => s.Apply(e));
        Assert.Equal(AppConsistencyFailure.HookMissing, Assert.Single(after.RecoveryPoints).AppConsistencyFailureKind);
    }

    [Fact]
    public void A_refusal_the_agent_calls_temporary_marks_the_abort_retryable_and_no_other_does()
    {
        var s = GroupBookmarkState.Start("gb", false, 42, Two);
        Assert.True(s.Step(new HeldReported("vm2", new Dictionary<string, long>(), "disk b1: resending regions", null, Retryable: true)).State.AbortRetryable);
        // An agent older than the flag says it in its text only.
        Assert.True(s.Step(new HeldReported("vm2", new Dictionary<string, long>(), $"{SiteRecovery.Contracts.Wire.RetryableRefusal.LegacyPrefix}: resending regions", null)).State.AbortRetryable);
        Assert.False(s.Step(new HeldReported("vm2", new Dictionary<string, long>(), "another bookmark holds this agent's disks", null)).State.AbortRetryable);
        Assert.False(s.Step(new HeldReported("vm2", new Dictionary<string, long>(), "agent not connected", null, Unreachable: true, Retryable: true)).State.AbortRetryable);
        Assert.False(HeldBoth().AbortRetryable);
    }
}
