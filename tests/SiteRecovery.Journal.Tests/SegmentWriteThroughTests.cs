using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Large records skip the append buffer (one gathered write of header and record from the caller's bytes); small ones
/// still wait in it. Either way a record is seen by readers only after the flush that made it durable. (The crash and
/// recycling properties of SegmentLogTests and SegmentRecycleTests use a 4 KiB buffer, so most of their records take
/// the gathered path, interleaved with buffered ones.)
/// </summary>
public sealed class SegmentWriteThroughTests
{
    [Fact]
    public void A_large_record_reaches_the_file_at_append_a_small_one_waits_and_readers_see_both_only_after_the_flush()
    {
        using var dir = new TempDir();
        var options = new SegmentLogOptions();
        using var log = SegmentLog.Open(dir.Sub("log"), options);
        var active = Directory.GetFiles(dir.Sub("log"), "*.open").Single();
        var big = SegmentRecords.For(1, 64 << 10, 4);
        var small = SegmentRecords.For(2, options.WriteThroughBytes / 2, 4);

        log.Append(big, 1);
        Assert.True(12 + big.Length == new FileInfo(active).Length,
            $"after appending a {big.Length}-byte record the file holds {new FileInfo(active).Length} bytes, want its whole frame ({12 + big.Length})");
        log.Append(small, 2);
        Assert.True(12 + big.Length == new FileInfo(active).Length,
            $"a {small.Length}-byte record went to the file at append ({new FileInfo(active).Length} bytes), want it buffered until the flush");
        Assert.Empty(log.Read(1));
        Assert.Equal(0, log.DurableSequence);

        log.Flush();
        Assert.Equal(24 + big.Length + small.Length, new FileInfo(active).Length);
        SegmentRecords.AssertHolds(log, [big, small], 1);
    }

    [Fact]
    public void Logs_left_idle_after_a_flush_hold_no_write_buffer_of_their_own()
    {
        // A node keeps two logs open per protected disk (the process server's spool, the master target's journal), most of
        // them idle: a buffer each would be 1 MiB a log. Counted on this thread only, so parallel tests do not disturb it.
        using var dir = new TempDir();
        var options = new SegmentLogOptions();
        const int Logs = 64;
        var small = SegmentRecords.For(1, options.WriteThroughBytes / 2, 4);
        var logs = new List<SegmentLog>();
        try
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Logs; i++)
            {
                var log = SegmentLog.Open(dir.Sub($"log{i}"), options);
                logs.Add(log);
                log.Append(small, 1);
                log.Flush();
            }
            var perLog = (GC.GetAllocatedBytesForCurrentThread() - before) / Logs;
            Assert.True(perLog < options.WriteBufferBytes / 4,
                $"opening, appending to and flushing a log allocated {perLog} bytes on average, want well under its {options.WriteBufferBytes}-byte write buffer");
            foreach (var log in logs) SegmentRecords.AssertHolds(log, [small], 1);
        }
        finally
        {
            foreach (var log in logs) log.Dispose();
        }
    }
}
