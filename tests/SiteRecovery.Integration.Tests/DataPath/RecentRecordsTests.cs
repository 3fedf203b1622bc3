using System.Buffers;
using SiteRecovery.Actors.DataPath;

namespace SiteRecovery.Tests.DataPath;

public class RecentRecordsTests
{
    const int Record = 1024;

    static byte[] Rented(long sequence)
    {
        var b = ArrayPool<byte>.Shared.Rent(Record);
        b.AsSpan().Fill((byte)sequence);
        return b;
    }

    static List<long> Take(RecentRecords recent, long from, long through, out long last)
    {
        var into = new List<OutgoingRecord>();
        last = recent.TakeFrom(from, through, int.MaxValue, into);
        var sequences = into.Select(r => (long)r.Record.Span[0]).ToList();
        foreach (var r in into) RecentRecords.Release(r);
        return sequences;
    }

    [Fact]
    public void A_forwarder_behind_the_writer_gets_the_oldest_run_from_memory_and_the_bound_holds()
    {
        var recent = new RecentRecords(4 * Record);
        for (long s = 1; s <= 10; s++)
        {
            recent.Add(s, Rented(s), Record);
            Assert.True(recent.Bytes <= 4 * Record, $"held {recent.Bytes} bytes after #{s}, bound {4 * Record}");
        }

        // The forwarder still wants #1: it is held, with the run after it (newer records waited in the spool).
        Assert.Equal([1L, 2, 3, 4], Take(recent, 1, 10, out var last));
        Assert.Equal(4, last);
        // #5..#10 came while full: the spool serves them (not held, so nothing is returned).
        Assert.Empty(Take(recent, 5, 10, out last));
        Assert.Equal(4, last);
        // Taken empty, it holds new records again, so a forwarder that caught up through the spool finds them here.
        recent.Add(11, Rented(11), Record);
        recent.Add(12, Rented(12), Record);
        Assert.Equal([11L, 12], Take(recent, 11, 12, out last));
        Assert.Equal(12, last);
    }

    [Fact]
    public void A_step_back_while_full_drops_the_held_run()
    {
        var recent = new RecentRecords(2 * Record);
        for (long s = 1; s <= 4; s++) recent.Add(s, Rented(s), Record);
        // A new agent connection after a resync numbers from #3 again: nothing held may be handed out for it.
        recent.Add(3, Rented(33), Record);
        Assert.Empty(Take(recent, 1, 4, out _));
        Assert.Equal([33L], Take(recent, 3, 3, out var last));
        Assert.Equal(3, last);
    }
}
