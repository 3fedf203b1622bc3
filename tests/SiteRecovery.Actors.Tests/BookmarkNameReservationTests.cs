using Xunit;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Tests;

/// <summary>The name reservation rules of the ProtectedDisk aggregate, straight at Decide/Apply.</summary>
public sealed class BookmarkNameReservationTests
{
    const string Disk = "d0";

    static ProtectedDiskState Registered() =>
        Apply(ProtectedDiskState.Empty(Disk), new RegisterDisk(Disk, "vm1", 1 << 20, "ps1", "mt1"));

    static ProtectedDiskState Apply(ProtectedDiskState s, IProtectedDiskCommand c)
    {
        var d = s.Decide(c);
        Assert.True(d.Rejection is null, d.Rejection?.Message);
        return d.Events.Aggregate(s, (x, e) => x.Apply(e));
    }

    static CommandResult.Rejected Refused(ProtectedDiskState s, IProtectedDiskCommand c) =>
        s.Decide(c).Rejection ?? throw new Xunit.Sdk.XunitException($"{c} was accepted");

    [Fact]
    public void A_name_used_by_a_point_is_refused_naming_the_point()
    {
        var s = Apply(Registered(), new RecordRecoveryPoint(Disk, "dup1", 514, 1_000, RecoveryPointKind.CrashConsistent));
        var r = Refused(s, new ReserveBookmarkName(Disk, "dup1", "r1", 2_000, 60_000));
        Assert.Equal(RejectionReason.Conflict, r.Reason);
        Assert.Contains("already names the recovery point at #514 on disk d0", r.Message);
    }

    [Fact]
    public void A_live_reservation_blocks_another_request_until_released_expired_or_consumed()
    {
        var s = Apply(Registered(), new ReserveBookmarkName(Disk, "n", "r1", 1_000, 10_000));
        Assert.Equal(RejectionReason.Conflict, Refused(s, new ReserveBookmarkName(Disk, "n", "r2", 2_000, 20_000)).Reason);
        Assert.Empty(s.Decide(new ReserveBookmarkName(Disk, "n", "r1", 2_000, 20_000)).Events); // the same request again: no-op
        Assert.NotEmpty(s.Decide(new ReserveBookmarkName(Disk, "n", "r2", 10_001, 20_000)).Events); // expired: no longer blocks

        var released = Apply(s, new ReleaseBookmarkName(Disk, "n", "r1"));
        Assert.NotEmpty(released.Decide(new ReserveBookmarkName(Disk, "n", "r2", 2_000, 20_000)).Events);
        Assert.Empty(s.Decide(new ReleaseBookmarkName(Disk, "n", "other")).Events); // only the holder releases

        var consumed = Apply(s, new RecordRecoveryPoint(Disk, "n", 7, 1_500, RecoveryPointKind.CrashConsistent));
        Assert.False(consumed.Reservations.ContainsKey("n"));
        Assert.Contains("#7", Refused(consumed, new ReserveBookmarkName(Disk, "n", "r2", 2_000, 20_000)).Message);
    }

    [Fact]
    public void A_second_point_under_a_used_name_is_refused_and_the_same_point_again_is_a_no_op()
    {
        var s = Apply(Registered(), new RecordRecoveryPoint(Disk, "p", 10, 1_000, RecoveryPointKind.CrashConsistent));
        Assert.Empty(s.Decide(new RecordRecoveryPoint(Disk, "p", 10, 1_000, RecoveryPointKind.CrashConsistent)).Events);
        Assert.Equal(RejectionReason.Conflict, Refused(s, new RecordRecoveryPoint(Disk, "p", 11, 1_100, RecoveryPointKind.CrashConsistent)).Reason);
    }
}
