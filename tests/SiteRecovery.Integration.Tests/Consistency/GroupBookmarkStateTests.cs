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
}
