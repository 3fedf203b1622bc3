using SiteRecovery.Chaos.Tests.Harness;

namespace SiteRecovery.Chaos.Tests;

/// <summary>The chaos harness's judge on images made by hand: it must see a lost write, an older write, a write from after the point, and let an unanswered write go either way.</summary>
public sealed class PointCheckTests
{
    const int Blocks = 3;

    static (WriteLedger Ledger, LedgerPoint Point) History()
    {
        var l = new WriteLedger("d");
        void Write(int block, WriteOutcome outcome) => l.Settle(l.Send(block), outcome);
        Write(0, WriteOutcome.Acknowledged); // 0
        Write(0, WriteOutcome.Acknowledged); // 1: block 0 must hold this
        Write(1, WriteOutcome.Acknowledged); // 2
        Write(1, WriteOutcome.Unknown);      // 3: block 1 holds 2 or 3
        var point = new LedgerPoint("p", l.Cut());
        l.Confirmed(point.Bookmark, point.Cut);
        Write(0, WriteOutcome.Acknowledged); // 4: after the point
        return (l, point);
    }

    static byte[] Initial(int b) => new byte[Stamp.BlockSize];

    static List<Finding> Check(WriteLedger l, LedgerPoint p, params long?[] held) =>
        PointCheck.Check("d", l.Writes, p, Blocks, b => held[b] is { } id ? l.Writes[(int)id].Stamp.ToBlock() : Initial(b), Initial);

    [Fact]
    public void The_last_acknowledged_write_or_a_later_unanswered_one_passes()
    {
        var (l, p) = History();
        Assert.Empty(Check(l, p, 1, 2, null));
        Assert.Empty(Check(l, p, 1, 3, null));
    }

    [Fact]
    public void A_missing_acknowledged_write_is_lost()
    {
        var (l, p) = History();
        var f = Assert.Single(Check(l, p, 1, null, null));
        Assert.Equal((FindingKind.Lost, 1, 2L), (f.Kind, f.Block, f.ExpectedWrite));
    }

    [Fact]
    public void An_older_write_or_one_after_the_point_is_reordered()
    {
        var (l, p) = History();
        Assert.Equal(FindingKind.Reordered, Assert.Single(Check(l, p, 0, 2, null)).Kind);
        Assert.Equal(FindingKind.Reordered, Assert.Single(Check(l, p, 4, 2, null)).Kind);
    }

    [Fact]
    public void A_torn_block_is_lost()
    {
        var (l, p) = History();
        var torn = l.Writes[1].Stamp.ToBlock();
        l.Writes[0].Stamp.ToBlock().AsSpan(0, 2048).CopyTo(torn);
        var f = PointCheck.Check("d", l.Writes, p, Blocks, b => b == 0 ? torn : b == 1 ? l.Writes[2].Stamp.ToBlock() : Initial(b), Initial);
        Assert.Equal(FindingKind.Lost, Assert.Single(f).Kind);
    }
}
