using Microsoft.Win32.SafeHandles;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A failed fsync faults the log; <see cref="SegmentLog.CloseAtDurable"/> then keeps only what the last good fsync made
/// durable, although the later frames reached the file intact (the page cache took them; the device may not have).
/// </summary>
public sealed class SegmentLogFaultTests
{
    private sealed class FailingFsync : ISegmentFileIo
    {
        public bool Fail { get; set; }
        public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset) => RandomAccess.Write(file, bytes, offset);
        public void FlushToDisk(SafeFileHandle file)
        {
            if (Fail) throw new IOException("Input/output error (EIO injected into fsync)");
            RandomAccess.FlushToDisk(file);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void After_a_failed_fsync_the_reopened_log_holds_exactly_the_durable_records(int recycle)
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var io = new FailingFsync();
        var options = new SegmentLogOptions { SegmentBytes = 1 << 20, WriteBufferBytes = 4096, ReadBufferBytes = 4096, RecycleSegments = recycle, FileIo = io };
        var records = Enumerable.Range(1, 8).Select(i => SegmentRecords.For(i, 700, 5)).ToList();
        var log = SegmentLog.Open(path, options);
        for (var s = 1; s <= 5; s++) log.Append(records[s - 1], s);
        log.Flush();
        for (var s = 6; s <= 8; s++) log.Append(records[s - 1], s);
        io.Fail = true;
        Assert.Throws<IOException>(log.Flush);
        Assert.True(log.Faulted);
        Assert.True(log.FaultedInFsync);
        Assert.Equal(5, log.DurableSequence);

        log.CloseAtDurable();
        io.Fail = false;
        using var reopened = SegmentLog.Open(path, options);
        Assert.Equal(5, reopened.LastSequence);
        SegmentRecords.AssertHolds(reopened, records.Take(5).ToList(), 1);
        reopened.Append(records[5], 6);
        reopened.Flush();
        Assert.Equal(6, reopened.DurableSequence);
    }
}
