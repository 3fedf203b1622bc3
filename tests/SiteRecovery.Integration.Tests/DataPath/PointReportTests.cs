using System.Collections.Concurrent;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A durable marker's report to its disk's actor (<see cref="ActorDataPathEvents.RecoveryPointDurable"/>) is asked until
/// the actor answers: a report that gets no answer (the actor stopped on a failed journal write, say) is sent again,
/// a refusal is logged with its reason and not sent again, and a report never answered is given up with a log line
/// that says the point is not in the catalogue. The disk's actor is a probe here, so a lost command can be played.
/// </summary>
public sealed class PointReportTests : Akka.TestKit.Xunit2.TestKit
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    readonly ConcurrentQueue<string> _log = new();

    ActorDataPathEvents Events(Akka.TestKit.TestProbe disks) => new(disks, CreateTestProbe(), "mt-1", _log.Enqueue,
        new ReconnectPolicy(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(50)), TimeSpan.FromMilliseconds(500));

    [Fact]
    public async Task A_report_that_gets_no_answer_is_sent_again_until_the_disk_answers()
    {
        var disks = CreateTestProbe();
        var answered = Events(disks).RecoveryPointDurable("d1", "bm", 7, 1_000);
        var lost = disks.ExpectMsg<RecordRecoveryPoint>(Wait);
        var again = disks.ExpectMsg<RecordRecoveryPoint>(Wait);
        Assert.Equal(lost, again);
        Assert.Equal(("d1", "bm", 7L), (again.DiskId, again.BookmarkId, again.Sequence));
        disks.Reply(new CommandResult.Accepted(1));
        disks.ExpectNoMsg(TimeSpan.FromSeconds(2));
        Assert.Empty(_log);
        Assert.True(await answered.WaitAsync(Wait), "an answered report settles the marker");
    }

    [Fact]
    public async Task A_refused_report_is_logged_with_its_reason_and_not_sent_again()
    {
        var disks = CreateTestProbe();
        var answered = Events(disks).RecoveryPointDurable("d1", "bm", 7, 1_000);
        disks.ExpectMsg<RecordRecoveryPoint>(Wait);
        disks.Reply(new CommandResult.Rejected(RejectionReason.Conflict, "bookmark 'bm' already names the recovery point at #5"));
        disks.ExpectNoMsg(TimeSpan.FromSeconds(2));
        AwaitCondition(() => _log.Any(l => l.Contains("marker 'bm' at #7 is not a recovery point: bookmark 'bm' already names", StringComparison.Ordinal)), Wait);
        Assert.True(await answered.WaitAsync(Wait), "a refusal is an answer: the marker is settled");
    }

    [Fact]
    public async Task A_report_never_answered_is_given_up_and_says_the_point_is_not_in_the_catalogue()
    {
        var disks = CreateTestProbe();
        var answered = Events(disks).RecoveryPointDurable("d1", "bm", 7, 1_000);
        for (var i = 0; i < ActorDataPathEvents.PointReportAttempts; i++) disks.ExpectMsg<RecordRecoveryPoint>(Wait);
        disks.ExpectNoMsg(TimeSpan.FromSeconds(2));
        AwaitCondition(() => _log.Any(l => l.Contains("marker 'bm' at #7 is durable", StringComparison.Ordinal) && l.Contains("not in the catalogue", StringComparison.Ordinal)), Wait);
        Assert.False(await answered.WaitAsync(Wait), "a report given up is not settled: the master target keeps the marker to report it again after its next start");
    }
}
