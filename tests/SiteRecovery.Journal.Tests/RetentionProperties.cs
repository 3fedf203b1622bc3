using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Base image + checkpoint indexes + journal against a reference model: an in-memory array applying the same deltas.
/// Small segment files (so trimming really deletes), a disk of three and a bit 1 MiB blocks, small checkpoint intervals.
/// </summary>
public sealed class RetentionProperties
{
    internal const int DiskSize = 3 * (1 << 20) + 4096;
    internal const string Disk = "disk-r";
    internal static readonly DeltaCompression Compression = new();
    internal static readonly SegmentLogOptions LogOptions = new() { SegmentBytes = 24 * 1024 };

    /// <summary>
    /// Writes (random or compressible), zeroes, trims and bookmarks; times grow 10 ms per delta from 1,700,000,000,000 (Nov 2023), plus
    /// <paramref name="agentClockShiftMs"/> (an agent whose clock is off).
    /// </summary>
    internal static List<Delta> RandomDeltas(int seed, int count, long agentClockShiftMs = 0)
    {
        var rng = new Random(seed);
        var deltas = new List<Delta>();
        for (long seq = 1; seq <= count; seq++)
        {
            var length = rng.Next(1, 24_000);
            // Half the writes land in the first 64 KiB so extents overlap and split.
            var offset = rng.Next(2) == 0 ? rng.NextInt64(0, 65536) : rng.NextInt64(0, DiskSize - length + 1);
            var time = TimeOf(seq) + agentClockShiftMs;
            var kind = rng.Next(0, 10);
            if (kind < 6)
            {
                var data = new byte[length];
                if (kind < 3) rng.NextBytes(data);
                else Array.Fill(data, (byte)rng.Next(1, 256));
                deltas.Add(Delta.Create(Disk, seq, DeltaKind.Write, offset, length, data, time));
            }
            else if (kind < 8) deltas.Add(Delta.Create(Disk, seq, DeltaKind.Zero, offset, length, ReadOnlyMemory<byte>.Empty, time));
            else if (kind < 9) deltas.Add(Delta.Create(Disk, seq, DeltaKind.Trim, offset, length, ReadOnlyMemory<byte>.Empty, time));
            else deltas.Add(Delta.Bookmark(Disk, seq, $"bm-{seq}", time));
        }
        return deltas;
    }

    internal static long TimeOf(long seq) => 1_700_000_000_000 + seq * 10;

    /// <summary>The master target received (and committed) each record at <see cref="TimeOf"/> its sequence, by its clock.</summary>
    internal static void Receive(DiskRetention r, IEnumerable<Delta> deltas)
    {
        foreach (var d in deltas) r.Received(d.Sequence, TimeOf(d.Sequence));
    }

    internal static byte[] ReferenceAt(IReadOnlyList<Delta> deltas, long through)
    {
        var disk = new byte[DiskSize];
        foreach (var d in deltas.Take((int)through)) Apply(disk, d);
        return disk;
    }

    internal static void Append(SegmentLog log, IEnumerable<Delta> deltas, Random rng, DiskRetention? reportTo = null)
    {
        // The writer reports all, none or some of its records to the retention (as the master target does); what is
        // not reported must be read back from the journal, so every mix gives the same index.
        var mode = rng.Next(3);
        foreach (var d in deltas)
        {
            var location = log.Append(Compression.EncodeStored(d, compress: rng.Next(2) == 0), d.Sequence);
            if (reportTo is not null && (mode == 0 || mode == 1 && rng.Next(4) != 0)) reportTo.Appended(d, location);
        }
        log.Flush();
    }

    private static byte[] ReadView(DiskRetention r, long sequence)
    {
        using var view = r.OpenView(sequence);
        var image = new byte[DiskSize];
        // Odd-sized reads that straddle extents and base blocks.
        for (var offset = 0; offset < DiskSize;)
        {
            var n = Math.Min(DiskSize - offset, 77_777);
            view.Read(offset, image.AsSpan(offset, n));
            offset += n;
        }
        return image;
    }

    internal static void AssertEveryPoint(DiskRetention r, IReadOnlyList<Delta> deltas, string context)
    {
        var w = r.Window();
        var first = Math.Max(1, w.OldestSequence);
        var reference = ReferenceAt(deltas, first);
        for (var s = first; s <= w.NewestSequence; s++)
        {
            if (s > first) Apply(reference, deltas[(int)s - 1]);
            var got = ReadView(r, s);
            Assert.True(reference.AsSpan().SequenceEqual(got), $"{context}: view at #{s} (window {w}) differs from the reference");
        }
    }

    private static void Apply(byte[] disk, Delta d)
    {
        if (d.Kind == DeltaKind.Write) d.Payload.Span.CopyTo(disk.AsSpan((int)d.Offset));
        else if (d.Kind is DeltaKind.Zero or DeltaKind.Trim) Array.Clear(disk, (int)d.Offset, d.Length);
    }

    /// <summary>
    /// After random appends, checkpoints, base rolls, reopenings and views held open across rolls, every sequence in
    /// the window reads (view) and materializes exactly as the reference; a roll never passes an open view's point.
    /// </summary>
    [Property(MaxTest = 10)]
    public Property PointAtAnySequenceInTheWindowEqualsTheReference() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(30, 90).ToArbitrary(), (seed, count) =>
        {
            using var dir = new TempDir();
            var rng = new Random(seed);
            var deltas = RandomDeltas(seed, count);
            var options = new RetentionOptions { Window = null, CheckpointIntervalBytes = rng.Next(8_000, 120_000) };
            var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
            var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, options);
            try
            {
                var appended = 0;
                while (appended < count)
                {
                    var batch = Math.Min(count - appended, rng.Next(1, 15));
                    Append(log, deltas.Skip(appended).Take(batch), rng, r);
                    appended += batch;
                    r.MaybeCheckpoint(force: rng.Next(4) == 0);
                    switch (rng.Next(5))
                    {
                        case 0:
                            r.RollForwardTo(rng.NextInt64(0, appended + 1));
                            break;
                        case 1:
                        {
                            // A view held open across a roll past its point: the roll stops at the point, the view stays exact.
                            var w = r.Window();
                            var p = rng.NextInt64(Math.Max(1, w.OldestSequence), w.NewestSequence + 1);
                            using var view = r.OpenView(p);
                            var after = r.RollForwardTo(appended);
                            Assert.True(after <= p, $"base rolled to #{after}, past the open view at #{p}");
                            var got = new byte[DiskSize];
                            view.Read(0, got);
                            Assert.True(ReferenceAt(deltas, p).AsSpan().SequenceEqual(got), $"view at #{p} changed under a roll to #{after}");
                            break;
                        }
                        case 2:
                            r.Dispose();
                            log.Dispose();
                            log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
                            r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, options);
                            break;
                    }
                }
                AssertEveryPoint(r, deltas, $"seed {seed}");
                Assert.True(r.OldestSequence <= 1 || log.FirstSequence <= r.OldestSequence + 1, "journal trimmed past the base");

                var w2 = r.Window();
                var point = rng.NextInt64(Math.Max(1, w2.OldestSequence), w2.NewestSequence + 1);
                using (var view = r.OpenView(point))
                {
                    var result = PointInTimeMaterializer.MaterializeAsync(view, dir.Sub("image.raw")).GetAwaiter().GetResult();
                    var expected = ReferenceAt(deltas, point);
                    Assert.True(expected.AsSpan().SequenceEqual(File.ReadAllBytes(dir.Sub("image.raw"))), $"materialized #{point} differs");
                    Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected)), result.Sha256);
                }
            }
            finally
            {
                r.Dispose();
                log.Dispose();
            }
        });

    /// <summary>
    /// With a time window, the base rolls to the last point at or before now − window and not one further: every point
    /// written inside the window stays readable; one just outside is refused, naming the window.
    /// </summary>
    [Property(MaxTest = 8)]
    public Property PruningNeverRemovesAPointInsideTheWindow() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(20, 70).ToArbitrary(), Gen.Choose(0, 800).ToArbitrary(), (seed, count, windowMs) =>
        {
            using var dir = new TempDir();
            var rng = new Random(seed);
            var deltas = RandomDeltas(seed, count);
            var window = TimeSpan.FromMilliseconds(windowMs + 1);
            using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
            using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression,
                new RetentionOptions { Window = window, CheckpointIntervalBytes = 40_000, ReceiveTimeSampleInterval = TimeSpan.Zero });
            Append(log, deltas, rng);
            Receive(r, deltas);
            r.MaybeCheckpoint(force: true);
            var now = TimeOf(count) + rng.Next(0, 300);
            var cutoff = now - (long)window.TotalMilliseconds;
            var b = r.ApplyWindow(now);

            var lastOutside = deltas.LastOrDefault(d => d.TimeUnixMs <= cutoff)?.Sequence ?? 0;
            Assert.Equal(lastOutside, b);
            foreach (var d in deltas.Where(d => d.TimeUnixMs > cutoff))
                using (r.OpenView(d.Sequence)) { }
            AssertEveryPoint(r, deltas, $"seed {seed} window {window.TotalMilliseconds} ms");
            if (b > 1)
            {
                var e = Assert.Throws<PointInTimeUnavailableException>(() => r.OpenView(b - 1));
                Assert.Contains($"#{b}", e.Message);
            }
        });

    public static IEnumerable<object[]> CrashSteps() =>
        new[] { "roll-intent.temp-written", "roll-intent.renamed", "roll.applying", "roll.applied", "base-manifest.temp-written",
                "base-manifest.renamed", "roll.checkpoints-dropped", "roll.trimmed", "checkpoint.temp-written", "checkpoint.renamed" }
        .Select(s => new object[] { s });

    private sealed class SimulatedCrash(string step) : Exception($"simulated crash at {step}");

    /// <summary>
    /// A crash at each step of a roll or a checkpoint (the process stops there; files stay as they are) reopens to a
    /// state where every point of the window still equals the reference, and maintenance carries on.
    /// </summary>
    [Theory]
    [MemberData(nameof(CrashSteps))]
    public void CrashAtAnyStepLeavesAConsistentState(string step)
    {
        for (var seed = 1; seed <= 2; seed++)
        {
            using var dir = new TempDir();
            var rng = new Random(seed);
            var deltas = RandomDeltas(seed * 31 + step.Length, 80);
            var options = new RetentionOptions { Window = null, CheckpointIntervalBytes = 50_000 };
            var armed = false;
            var crashed = false;
            void Hook(string s)
            {
                if (armed && s == step) { crashed = true; throw new SimulatedCrash(s); }
            }
            var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
            var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, options, Hook);
            Append(log, deltas.Take(40), rng);
            r.MaybeCheckpoint(force: true);
            r.RollForwardTo(15);
            Append(log, deltas.Skip(40), rng);
            armed = true;
            try
            {
                r.MaybeCheckpoint(force: true);
                r.RollForwardTo(55);
            }
            catch (SimulatedCrash) { }
            Assert.True(crashed, $"step {step} was never reached");
            r.Dispose();
            log.Dispose();

            log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
            r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, options);
            try
            {
                var w = r.Window();
                Assert.True(w.OldestSequence is 15 or 55, $"after a crash at {step} the base is at #{w.OldestSequence}, expected #15 (before) or #55 (after)");
                Assert.Equal(80, w.NewestSequence);
                AssertEveryPoint(r, deltas, $"crash at {step}, seed {seed}");
                r.MaybeCheckpoint(force: true);
                Assert.Equal(70, r.RollForwardTo(70));
                AssertEveryPoint(r, deltas, $"after a crash at {step} and another roll, seed {seed}");
            }
            finally
            {
                r.Dispose();
                log.Dispose();
            }
        }
    }

    [Fact]
    public void TimeResolvesToTheLastWriteAtOrBeforeItAndOutsideTheWindowIsRefused()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(5, 60);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, new RetentionOptions { Window = null, CheckpointIntervalBytes = 30_000, ReceiveTimeSampleInterval = TimeSpan.Zero });
        Append(log, deltas, new Random(5));
        Receive(r, deltas);
        r.MaybeCheckpoint(force: true);
        r.RollForwardTo(20);
        var now = TimeOf(60) + 1000;
        foreach (var s in new long[] { 20, 21, 33, 59, 60 })
        {
            Assert.Equal(s, r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(s)), now));
            Assert.Equal(s, r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(s) + 9), now));
        }
        Assert.Equal(60, r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(now), now));
        var before = Assert.Throws<PointInTimeUnavailableException>(() => r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(20) - 1), now));
        Assert.Contains("outside the retention window #20", before.Message);
        Assert.Contains(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(20)).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fff"), before.Message);
        var future = Assert.Throws<PointInTimeUnavailableException>(() => r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(now + 1), now));
        Assert.Contains("in the future", future.Message);
        Assert.Throws<PointInTimeUnavailableException>(() => r.OpenView(61));
        Assert.Throws<PointInTimeUnavailableException>(() => r.OpenView(19));
    }

    [Fact]
    public void ADamagedBaseBlockIsReportedNotServed()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(6, 40);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using (var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, new RetentionOptions { Window = null }))
        {
            Append(log, deltas, new Random(6));
            r.RollForwardTo(40);
        }
        // Flip one byte inside data the base holds.
        var nonZero = Array.FindIndex(ReferenceAt(deltas, 40), x => x != 0);
        using (var fs = new FileStream(Path.Combine(dir.Sub("retention"), BaseImage.ImageName), FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = nonZero;
            var b = fs.ReadByte();
            fs.Position = nonZero;
            fs.WriteByte((byte)(b ^ 0xff));
        }
        using var reopened = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, Compression, new RetentionOptions { Window = null });
        using var view = reopened.OpenView(40);
        var e = Assert.Throws<InvalidDataException>(() => view.Read(nonZero, new byte[1]));
        Assert.Contains($"block {nonZero / BaseImage.BlockSize}", e.Message);
        Assert.Contains("checksum mismatch", e.Message);
    }
}
