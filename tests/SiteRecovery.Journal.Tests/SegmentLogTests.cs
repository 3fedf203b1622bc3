using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

public sealed class SegmentLogTests
{
    private static byte[] RecordFor(long seq, int length, int salt) => SegmentRecords.For(seq, length, salt);

    private static SegmentLogOptions Small(long segmentBytes, bool verifySealed = true) => new()
    {
        SegmentBytes = segmentBytes,
        WriteBufferBytes = 4096,
        ReadBufferBytes = 4096,
        MaxRecordBytes = 1 << 20,
        VerifySealedOnOpen = verifySealed,
    };

    private static void AssertHolds(SegmentLog log, IReadOnlyList<byte[]> expected, long from) => SegmentRecords.AssertHolds(log, expected, from);

    [Property(MaxTest = 30)]
    public void Append_returns_the_location_ReadLocated_reports(PositiveInt seedArg)
    {
        var rng = new Random(seedArg.Get);
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var reported = new Dictionary<long, RecordLocation>();
        long seq = 0;
        // Two opens: locations stay right in a file continued after a reopen, and across rotations.
        for (var round = 0; round < 2; round++)
        {
            using var log = SegmentLog.Open(path, Small(rng.Next(2_000, 20_000)));
            for (var i = rng.Next(1, 80); i > 0; i--)
            {
                seq++;
                reported[seq] = log.Append(RecordFor(seq, rng.Next(1, 3000), 3), seq);
                if (rng.Next(5) == 0) log.Flush();
            }
            log.Flush();
            foreach (var r in log.ReadLocated(1))
                Assert.Equal(reported[r.Sequence], r.Location);
            var probe = rng.NextInt64(1, seq + 1);
            Assert.Equal(log.ReadLocated(probe, probe).Single().Record.ToArray(), log.ReadAt(reported[probe], probe).ToArray());
        }
    }

    [Property(MaxTest = 30)]
    public void Reading_into_allocated_buffers_gives_the_same_records_in_the_buffers_handed_out(PositiveInt seedArg)
    {
        var rng = new Random(seedArg.Get);
        using var dir = new TempDir();
        using var log = SegmentLog.Open(dir.Sub("log"), Small(rng.Next(2_000, 20_000)));
        var expected = new List<byte[]>();
        for (long seq = 1; seq <= rng.Next(1, 120); seq++)
        {
            expected.Add(RecordFor(seq, rng.Next(1, 3000), 5));
            log.Append(expected[^1], seq);
            if (rng.Next(7) == 0) log.Flush();
        }
        log.Flush();
        // A pool hands out arrays longer than asked, with stale bytes in them.
        var handedOut = new List<byte[]>();
        byte[] Rent(int length)
        {
            var a = new byte[length + rng.Next(0, 5000)];
            rng.NextBytes(a);
            handedOut.Add(a);
            return a;
        }
        var from = rng.NextInt64(1, log.LastSequence + 1);
        var read = log.Read(from, long.MaxValue, Rent).ToList();
        Assert.Equal(log.LastSequence - from + 1, read.Count);
        Assert.Equal(read.Count, handedOut.Count);
        for (var i = 0; i < read.Count; i++)
        {
            Assert.Equal(from + i, read[i].Sequence);
            Assert.Equal(expected[(int)(from + i - 1)], read[i].Record.ToArray());
            Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(read[i].Record, out var segment) && ReferenceEquals(segment.Array, handedOut[i]) && segment.Offset == 0);
        }
        var refused = Assert.Throws<ArgumentException>(() => log.Read(1, long.MaxValue, n => new byte[n - 1]).ToList());
        Assert.Contains("allocator", refused.Message);
    }

    public sealed record CrashScenario(int[] Lengths, bool[] FlushAfter, long SegmentBytes, int CutPick, int GarbageLength, int Salt);

    private static Gen<CrashScenario> Scenarios =>
        from n in Gen.Choose(1, 120)
        from lengths in Gen.ArrayOf(Gen.Choose(1, 3000), n)
        from flushes in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(true)), (5, Gen.Constant(false))), n)
        from segment in Gen.Elements(2048L, 16384L, 1L << 30)
        from cut in Gen.Choose(0, int.MaxValue)
        from garbage in Gen.Frequency((2, Gen.Constant(0)), (1, Gen.Choose(1, 5000)))
        from salt in Gen.Choose(0, 1000)
        select new CrashScenario(lengths, flushes, segment, cut, garbage, salt);

    /// <summary>
    /// Crash at any point: whatever happens to the bytes after the last flush (cut anywhere, garbage appended), the
    /// reopened log holds exactly a prefix of what was appended that includes everything flushed, reads it back
    /// byte-equal and in order, and accepts the next sequence.
    /// </summary>
    [Property(MaxTest = 40)]
    public Property SurvivesCrashAtAnyPoint() => Prop.ForAll(Scenarios.ToArbitrary(), sc =>
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        long lastFlushed = 0;
        using (var log = SegmentLog.Open(path, Small(sc.SegmentBytes)))
        {
            for (var i = 0; i < sc.Lengths.Length; i++)
            {
                var rec = RecordFor(i + 1, sc.Lengths[i], sc.Salt);
                expected.Add(rec);
                log.Append(rec, i + 1);
                if (sc.FlushAfter[i])
                {
                    log.Flush();
                    lastFlushed = log.DurableSequence;
                }
            }
            // Rotation fsyncs sealed files, so whatever is sealed is durable too.
            lastFlushed = Math.Max(lastFlushed, SealedThrough(path));
        }

        // Simulate the crash on the active file: keep everything up to the end of the last durable record, cut the rest anywhere.
        var active = Directory.GetFiles(path, "*.open").Single();
        var activeFirst = long.Parse(Path.GetFileName(active)[..20]);
        var durableBytes = SegmentRecords.FrameBytes(expected, activeFirst, lastFlushed);
        var fileLength = new FileInfo(active).Length;
        var cutAt = SegmentRecords.CrashTail(active, durableBytes, sc.CutPick, sc.GarbageLength);

        using (var log = SegmentLog.Open(path, Small(sc.SegmentBytes)))
        {
            Assert.InRange(log.LastSequence, lastFlushed, expected.Count);
            Assert.Equal(log.LastSequence, log.DurableSequence);
            Assert.Equal(1, log.FirstSequence == 0 ? 1 : log.FirstSequence);
            // A cut that falls exactly between two records with nothing after it leaves a shorter, valid file:
            // nothing to truncate. Anything else (a partial record, or garbage) must be cut away.
            var boundaries = new HashSet<long> { 0 };
            long end = 0;
            for (var s = activeFirst; s <= expected.Count; s++) boundaries.Add(end += 12 + expected[(int)(s - 1)].Length);
            if (sc.GarbageLength > 0 || !boundaries.Contains(cutAt)) Assert.True(log.Recovery.Truncated, $"cut at {cutAt} of {fileLength}, {sc.GarbageLength} garbage bytes: not reported truncated");
            else Assert.False(log.Recovery.Truncated, $"cut at record boundary {cutAt}: reported truncated");
            AssertHolds(log, expected, 1);

            var next = log.LastSequence + 1;
            Assert.Throws<AppendSequenceGapException>(() => log.Append(new byte[] { 1 }, next + 1));
            var extra = RecordFor(next, 100, sc.Salt + 1);
            log.Append(extra, next);
            log.Flush();
            expected = expected.Take((int)next - 1).Append(extra).ToList();
        }

        using (var log = SegmentLog.Open(path, Small(sc.SegmentBytes)))
        {
            Assert.False(log.Recovery.Truncated);
            AssertHolds(log, expected, 1);
        }
    });

    private static long SealedThrough(string path) =>
        Directory.GetFiles(path, "*.seg").Select(f => long.Parse(Path.GetFileName(f)[21..41])).DefaultIfEmpty(0).Max();

    [Fact]
    public void ReadsStartingAnywhereInLargeFilesUseTheIndexAndReturnExactlyTheTail()
    {
        using var dir = new TempDir();
        // Two rotations' worth of records with several index entries per file, and an unflushed tail.
        using var log = SegmentLog.Open(dir.Path, Small(segmentBytes: 200 * 300));
        var expected = new List<byte[]>();
        for (long seq = 1; seq <= 700; seq++)
        {
            var r = RecordFor(seq, 100 + (int)(seq % 200), 3);
            expected.Add(r);
            log.Append(r, seq);
            if (seq % 50 == 0) log.Flush();
        }
        foreach (var from in new long[] { 1, 2, 63, 64, 65, 66, 128, 129, 130, 199, 200, 201, 333, 450, 651, 700 })
        {
            var got = log.Read(from).ToList();
            var durable = (int)log.DurableSequence;
            Assert.Equal(Enumerable.Range((int)from, Math.Max(0, durable - (int)from + 1)).Select(i => (long)i), got.Select(g => g.Sequence));
            foreach (var (s, r) in got) Assert.True(expected[(int)(s - 1)].AsSpan().SequenceEqual(r.Span), $"record {s} read from {from} differs");
        }
        log.Flush();
        AssertHolds(log, expected, 641);
    }

    [Fact]
    public void RotationAndTrimNeverDropAnythingAboveTheTrimPoint()
    {
        using var dir = new TempDir();
        var expected = new List<byte[]>();
        var rng = new Random(42);
        using var log = SegmentLog.Open(dir.Sub("log"), Small(4096));
        for (var s = 1; s <= 400; s++)
        {
            var rec = RecordFor(s, rng.Next(1, 900), 3);
            expected.Add(rec);
            log.Append(rec, s);
            if (s % 37 == 0) log.Flush();
        }
        log.Flush();
        Assert.True(Directory.GetFiles(log.Directory, "*.seg").Length > 10, "expected many rotations");
        AssertHolds(log, expected, 1);
        AssertHolds(log, expected, 123); // starts mid-file, crosses files

        long previousFirst = 1;
        // Every trim point, so every file boundary is hit exactly (an off-by-one deletes one file too many).
        foreach (var trim in Enumerable.Range(0, 402).Select(i => (long)i).Append(10_000))
        {
            log.TrimThrough(trim);
            var first = log.FirstSequence;
            Assert.True(first >= previousFirst);
            if (trim < log.LastSequence) Assert.InRange(first, 1, trim + 1); // nothing above trim deleted
            if (first > 1) Assert.Throws<SequenceNotHeldException>(() => log.Read(first - 1).ToList());
            if (first > 0) AssertHolds(log, expected, first);
            foreach (var f in Directory.GetFiles(log.Directory, "*.seg"))
                Assert.True(long.Parse(Path.GetFileName(f)[21..41]) > trim, $"{f} should have been trimmed at {trim}");
            previousFirst = Math.Max(first, 1);
        }

        // Everything sealed is gone; the active file still remembers where the sequence is.
        Assert.Equal(400, log.LastSequence);
        var more = RecordFor(401, 10, 3);
        expected.Add(more);
        log.Append(more, 401);
        log.Flush();
        AssertHolds(log, expected, log.FirstSequence);
        Assert.True(log.SizeBytes > 0);
    }

    [Fact]
    public void ReopenAfterTrimAndRotationKeepsSequence()
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        using (var log = SegmentLog.Open(path, Small(2048)))
        {
            for (var s = 1; s <= 100; s++) { expected.Add(RecordFor(s, 300, 9)); log.Append(expected[^1], s); }
            log.Flush();
            log.TrimThrough(60);
        }
        using (var log = SegmentLog.Open(path, Small(2048)))
        {
            Assert.Equal(100, log.LastSequence);
            Assert.InRange(log.FirstSequence, 2, 61);
            AssertHolds(log, expected, log.FirstSequence);
        }
    }

    [Fact]
    public void GapAndRepeatAreRefusedNamingBothNumbers()
    {
        using var dir = new TempDir();
        using var log = SegmentLog.Open(dir.Sub("log"), Small(1 << 20));
        var e = Assert.Throws<AppendSequenceGapException>(() => log.Append(new byte[] { 1 }, 5));
        Assert.Equal(1, e.Expected);
        Assert.Equal(5, e.Actual);
        Assert.Contains("5", e.Message);
        Assert.Contains("1", e.Message);
        log.Append(new byte[] { 1 }, 1);
        Assert.Throws<AppendSequenceGapException>(() => log.Append(new byte[] { 1 }, 1));
        Assert.Equal(1, log.LastSequence);
        Assert.Equal(0, log.DurableSequence);
        Assert.Empty(log.Read(1)); // not flushed yet: invisible to readers
        log.Flush();
        Assert.Single(log.Read(1));
    }

    [Fact]
    public void SecondWriterIsRefused()
    {
        using var dir = new TempDir();
        using var log = SegmentLog.Open(dir.Sub("log"), Small(1 << 20));
        var e = Assert.Throws<IOException>(() => SegmentLog.Open(dir.Sub("log"), Small(1 << 20)));
        Assert.Contains(SegmentLog.LockFileName, e.Message);
    }

    /// <summary>Any flipped bit in a sealed file is caught: by Open when it verifies, by Read when it does not.</summary>
    [Property(MaxTest = 25)]
    public Property CorruptionInSealedFileIsRefusedWithLocation() => Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), pick =>
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        using (var log = SegmentLog.Open(path, Small(4096)))
        {
            for (var s = 1; s <= 60; s++) log.Append(RecordFor(s, 200, 1), s);
            log.Flush();
        }
        var sealedFile = Directory.GetFiles(path, "*.seg").OrderBy(f => f).First();
        var bytes = File.ReadAllBytes(sealedFile);
        var bit = (int)((uint)pick % (uint)(bytes.Length * 8));
        bytes[bit / 8] ^= (byte)(1 << (bit % 8));
        File.WriteAllBytes(sealedFile, bytes);

        var e1 = Assert.Throws<SegmentCorruptException>(() => SegmentLog.Open(path, Small(4096)));
        Assert.Equal(sealedFile, e1.File);
        Assert.Contains(sealedFile, e1.Message);
        Assert.Contains("offset", e1.Message);

        using var trusting = SegmentLog.Open(path, Small(4096, verifySealed: false));
        var e2 = Assert.Throws<SegmentCorruptException>(() => trusting.Read(1).ToList());
        Assert.Equal(sealedFile, e2.File);
        Assert.InRange(e2.Offset, 0, bit / 8);
        Assert.InRange(e2.Sequence, 1, 60);
    });

    [Fact]
    public async Task ConcurrentReadersSeeDurablePrefixesWhileWriterRotates()
    {
        using var dir = new TempDir();
        var expected = new byte[3000][];
        for (var s = 1; s <= expected.Length; s++) expected[s - 1] = RecordFor(s, 50 + s % 400, 5);
        using var log = SegmentLog.Open(dir.Sub("log"), Small(8192));
        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                long seq = 0;
                foreach (var (s, r) in log.Read(1))
                {
                    if (s != seq + 1 || !expected[s - 1].AsSpan().SequenceEqual(r.Span)) lock (failures) failures.Add($"bad record {s}");
                    seq = s;
                }
            }
        })).ToArray();
        for (var s = 1; s <= expected.Length; s++)
        {
            log.Append(expected[s - 1], s);
            if (s % 10 == 0) log.Flush();
        }
        log.Flush();
        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.Empty(failures);
        Assert.Equal(expected.Length, log.Read(1).Count());
    }
}
