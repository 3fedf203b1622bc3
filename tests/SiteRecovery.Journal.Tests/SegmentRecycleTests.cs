using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A log that reuses its trimmed files (the process server's spool): a reused file still holds its earlier life's
/// frames past the new records, and those must never be read as new records, whatever a crash leaves behind.
/// </summary>
public sealed class SegmentRecycleTests
{
    private static byte[] RecordFor(long seq, int length, int salt) => SegmentRecords.For(seq, length, salt);

    private static SegmentLogOptions Recycling(long segmentBytes, int keep) => new()
    {
        SegmentBytes = segmentBytes,
        WriteBufferBytes = 4096,
        ReadBufferBytes = 4096,
        MaxRecordBytes = 1 << 20,
        RecycleSegments = keep,
    };

    /// <summary>Everything the log still holds (trimming drops the front) is what was appended.</summary>
    private static void AssertHolds(SegmentLog log, IReadOnlyList<byte[]> expected)
    {
        if (log.FirstSequence is var from and > 0) SegmentRecords.AssertHolds(log, expected, from);
    }

    /// <summary>What the disk holds if the machine stopped now: every file as written so far (the page cache's view).</summary>
    private static string CrashImage(string logDir, string into)
    {
        Directory.CreateDirectory(into);
        foreach (var f in Directory.GetFiles(logDir))
            if (Path.GetFileName(f) != SegmentLog.LockFileName) File.Copy(f, Path.Combine(into, Path.GetFileName(f)));
        return into;
    }

    private static string ActiveFile(string dir) => Directory.GetFiles(dir).Single(f => f.EndsWith(".open", StringComparison.Ordinal) || f.EndsWith(".sopen", StringComparison.Ordinal));

    public sealed record Scenario(int[] Lengths, bool[] FlushAfter, int[] TrimAfter, long SegmentBytes, int Keep, int CutPick, int GarbageLength, bool LeaveTail);

    private static Gen<Scenario> Scenarios =>
        from n in Gen.Choose(1, 200)
        // One length for every record is the hard case: a reused file's old frames then sit exactly where new ones go.
        from sameLength in Gen.Elements(true, false)
        from length in Gen.Choose(1, 1500)
        from lengths in sameLength ? Gen.Constant(Enumerable.Repeat(length, n).ToArray()) : Gen.ArrayOf(Gen.Choose(1, 1500), n)
        from flushes in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(true)), (4, Gen.Constant(false))), n)
        from trims in Gen.ArrayOf(Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, 40))), n)
        from segment in Gen.Elements(2048L, 4096L, 16384L)
        from keep in Gen.Choose(1, 3)
        from cut in Gen.Choose(0, int.MaxValue)
        from garbage in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, 3000)))
        from leave in Gen.Elements(true, false)
        select new Scenario(lengths, flushes, trims, segment, keep, cut, garbage, leave);

    /// <summary>
    /// Appends, flushes and trims (so files are parked and reused), then stops at any point: the image on disk keeps
    /// the reused file's old bytes past its records, or is cut anywhere after the durable part, or has garbage after
    /// it. Reopened, the log holds a prefix of what was appended that includes everything flushed, reads it back
    /// byte-equal, and goes on from there.
    /// </summary>
    [Property(MaxTest = 60)]
    public Property A_log_that_reuses_files_survives_a_crash_at_any_point() => Prop.ForAll(Scenarios.ToArbitrary(), sc =>
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        long durable = 0, trimmedThrough = 0;
        string image;
        using (var log = SegmentLog.Open(path, Recycling(sc.SegmentBytes, sc.Keep)))
        {
            for (var i = 0; i < sc.Lengths.Length; i++)
            {
                var rec = RecordFor(i + 1, sc.Lengths[i], 11);
                expected.Add(rec);
                log.Append(rec, i + 1);
                if (sc.FlushAfter[i]) log.Flush();
                durable = log.DurableSequence;
                if (sc.TrimAfter[i] > 0 && durable > 0)
                {
                    trimmedThrough = Math.Max(trimmedThrough, Math.Max(0, durable - sc.TrimAfter[i]));
                    log.TrimThrough(trimmedThrough);
                }
            }
            image = CrashImage(path, dir.Sub("image"));
        }

        var active = ActiveFile(image);
        var activeFirst = long.Parse(Path.GetFileName(active)[..20]);
        var durableBytes = SegmentRecords.FrameBytes(expected, activeFirst, durable);
        Assert.True(new FileInfo(active).Length >= durableBytes, "the image lost durable bytes before the crash was even simulated");
        if (!sc.LeaveTail) SegmentRecords.CrashTail(active, durableBytes, sc.CutPick, sc.GarbageLength);

        using (var log = SegmentLog.Open(image, Recycling(sc.SegmentBytes, sc.Keep)))
        {
            Assert.InRange(log.LastSequence, durable, expected.Count);
            Assert.Equal(log.LastSequence, log.DurableSequence);
            AssertHolds(log, expected);
            var next = log.LastSequence + 1;
            var extra = RecordFor(next, sc.Lengths[0], 12);
            log.Append(extra, next);
            log.Flush();
            expected = expected.Take((int)next - 1).Append(extra).ToList();
        }

        // A clean close leaves nothing to cut.
        using (var log = SegmentLog.Open(image, Recycling(sc.SegmentBytes, sc.Keep)))
        {
            Assert.False(log.Recovery.Truncated, log.Recovery.Reason);
            AssertHolds(log, expected);
        }
    });

    [Fact]
    public void Trimmed_files_are_reused_and_their_old_frames_of_the_same_size_are_never_read_as_new()
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        string image;
        long durable;
        using (var log = SegmentLog.Open(path, Recycling(4096, keep: 2)))
        {
            // Every record 500 bytes: eight frames fill a 4 KiB file exactly as they filled it in its earlier life.
            for (var s = 1; s <= 400; s++)
            {
                expected.Add(RecordFor(s, 500, 21));
                log.Append(expected[^1], s);
                if (s % 8 == 0) { log.Flush(); log.TrimThrough(s - 16); }
            }
            Assert.NotEmpty(Directory.GetFiles(path, "*.free"));
            Assert.InRange(Directory.GetFiles(path).Length, 3, 8); // lock, a few sealed files, the active one, parked ones
            // Three records into a reused file, flushed; its earlier life's frames follow them.
            for (var s = 401; s <= 403; s++) { expected.Add(RecordFor(s, 500, 21)); log.Append(expected[^1], s); }
            log.Flush();
            durable = log.DurableSequence;
            image = CrashImage(path, dir.Sub("image"));
            Assert.True(new FileInfo(ActiveFile(image)).Length > 3 * 512, "the active file should be a reused one, longer than its records");
        }

        using var reopened = SegmentLog.Open(image, Recycling(4096, keep: 2));
        Assert.Equal(durable, reopened.LastSequence);
        Assert.True(reopened.Recovery.Truncated);
        Assert.Contains("hash", reopened.Recovery.Reason);
        AssertHolds(reopened, expected);
    }

    [Fact]
    public void A_log_can_switch_reuse_on_and_off_and_keeps_reading_what_it_wrote_either_way()
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        long seq = 0;
        void Write(SegmentLog log, int count, long trimLag)
        {
            for (var i = 0; i < count; i++)
            {
                seq++;
                expected.Add(RecordFor(seq, 300 + (int)(seq % 50), 31));
                log.Append(expected[^1], seq);
                if (seq % 5 == 0) { log.Flush(); log.TrimThrough(seq - trimLag); }
            }
            log.Flush();
        }

        using (var log = SegmentLog.Open(path, Recycling(2048, keep: 0))) Write(log, 60, 30);   // plain files
        using (var log = SegmentLog.Open(path, Recycling(2048, keep: 3)))                     // plain files reused, salted ones made
        {
            AssertHolds(log, expected);
            Write(log, 120, 30);
            AssertHolds(log, expected);
            Assert.NotEmpty(Directory.GetFiles(path, "*.sseg"));
            Assert.NotEmpty(Directory.GetFiles(path, "*.free"));
        }
        using (var log = SegmentLog.Open(path, Recycling(2048, keep: 0)))                     // parked files dropped
        {
            Assert.Empty(Directory.GetFiles(path, "*.free"));
            Assert.Contains(log.Recovery.Actions, a => a.Contains("parked", StringComparison.Ordinal));
            AssertHolds(log, expected);
            Write(log, 60, 30);
            AssertHolds(log, expected);
        }
    }

    [Fact]
    public async Task Readers_see_durable_prefixes_while_the_writer_rotates_into_reused_files()
    {
        using var dir = new TempDir();
        var expected = new byte[4000][];
        for (var s = 1; s <= expected.Length; s++) expected[s - 1] = RecordFor(s, 200, 41);
        using var log = SegmentLog.Open(dir.Sub("log"), Recycling(4096, keep: 2));
        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        long readFrom = 1;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Readers read what is not trimmed yet, like the forwarder reading what the master target has not acknowledged.
                var from = Interlocked.Read(ref readFrom);
                try
                {
                    var seq = from - 1;
                    foreach (var (s, r) in log.Read(from))
                    {
                        if (s != seq + 1 || !expected[s - 1].AsSpan().SequenceEqual(r.Span)) lock (failures) failures.Add($"bad record {s}");
                        seq = s;
                    }
                }
                catch (SequenceNotHeldException) { /* trimmed between the snapshot and the read: the reader starts over */ }
            }
        })).ToArray();
        for (var s = 1; s <= expected.Length; s++)
        {
            log.Append(expected[s - 1], s);
            if (s % 10 == 0)
            {
                log.Flush();
                var trim = s - 100;
                // Readers move past a point before it is trimmed, as the forwarder has sent what the target acknowledges.
                Interlocked.Exchange(ref readFrom, Math.Max(1, trim + 1));
                await Task.Yield();
                log.TrimThrough(trim - 60);
            }
        }
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.Empty(failures);
        AssertHolds(log, expected);
    }
}
