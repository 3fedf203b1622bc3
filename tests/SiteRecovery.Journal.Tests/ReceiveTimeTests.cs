using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;
using static SiteRecovery.Journal.Tests.RetentionProperties;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// Retention goes by the master target's clock (when it received each record), not by the time the agent stamped: the
/// deltas here carry an agent time shifted by a day either way, and the master target receives record s at
/// <see cref="RetentionProperties.TimeOf"/>(s).
/// </summary>
public sealed class ReceiveTimeTests
{
    private static readonly long Day = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    public static IEnumerable<object[]> Skews() => new[] { new object[] { -Day }, [Day], [0L] };

    private static RetentionOptions Options(TimeSpan? window, TimeSpan? sample = null) =>
        new() { Window = window, CheckpointIntervalBytes = 40_000, ReceiveTimeSampleInterval = sample ?? TimeSpan.Zero };

    /// <summary>
    /// An agent a day behind would expire every point at once by its stamps; one a day ahead would keep everything. By
    /// receive times the base rolls to exactly the last record received at or before now − window, whatever the skew.
    /// </summary>
    [Theory]
    [MemberData(nameof(Skews))]
    public void TheWindowRollsByTheMasterTargetsClockWhateverTheAgentsClockSays(long agentShiftMs)
    {
        foreach (var (seed, windowMs) in new[] { (1, 200), (2, 55), (3, 390) })
        {
            using var dir = new TempDir();
            var deltas = RandomDeltas(seed, 60, agentShiftMs);
            using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
            using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(TimeSpan.FromMilliseconds(windowMs)));
            Append(log, deltas, new Random(seed));
            Receive(r, deltas);
            r.MaybeCheckpoint(force: true);
            var now = TimeOf(60) + 3;
            var b = r.ApplyWindow(now);
            var want = Enumerable.Range(1, 60).LastOrDefault(s => TimeOf(s) <= now - windowMs);
            Assert.True(want == b, $"agent clock {agentShiftMs:+0;-0} ms, window {windowMs} ms: base rolled to #{b}, want #{want} (the last received at or before now − window)");
            for (var s = Math.Max(1, b); s <= 60; s++)
                using (r.OpenView(s)) { }
            AssertEveryPoint(r, deltas, $"agent clock {agentShiftMs} ms, seed {seed}");
        }
    }

    [Theory]
    [MemberData(nameof(Skews))]
    public void TimeResolvesByTheMasterTargetsClockWithTheAgentsStampBesideIt(long agentShiftMs)
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(7, 60, agentShiftMs);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(null));
        Append(log, deltas, new Random(7));
        Receive(r, deltas);
        r.MaybeCheckpoint(force: true);
        r.RollForwardTo(20);
        var now = TimeOf(60) + 1000;
        foreach (var s in new long[] { 20, 21, 33, 59, 60 })
        {
            var p = r.ResolveTimePoint(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(s) + 9), now);
            Assert.True(p.Sequence == s, $"agent clock {agentShiftMs} ms: {TimeOf(s) + 9} resolved to #{p.Sequence}, want #{s}");
            Assert.Equal(TimeOf(s), p.ReceivedUnixMs);
            Assert.Equal(deltas[(int)s - 1].TimeUnixMs, p.AgentTimeUnixMs);
        }
        var w = r.Window();
        Assert.Equal((TimeOf(20), TimeOf(60)), (w.OldestTimeUnixMs, w.NewestTimeUnixMs));
        Assert.Equal((TimeOf(20) + agentShiftMs, TimeOf(60) + agentShiftMs), (w.OldestAgentTimeUnixMs, w.NewestAgentTimeUnixMs));
        Assert.True(w.OldestReceived && w.NewestReceived);
        var before = Assert.Throws<PointInTimeUnavailableException>(() => r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(20) - 1), now));
        Assert.Contains("outside the retention window #20", before.Message);
    }

    /// <summary>
    /// Samples written at most every second (the rest in memory): a point ages out late by at most that, never early;
    /// after a reopen (the in-memory sample lost, as in a crash) the unsampled records are stamped with the reopen's
    /// time, so they are kept longer, never dropped sooner.
    /// </summary>
    [Fact]
    public void SparseSamplesAndAReopenNeverExpireAPointEarly()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(11, 400, -Day); // 10 ms apart: 4 s of writes
        var window = TimeSpan.FromMilliseconds(1500);
        var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(window, TimeSpan.FromSeconds(1)));
        Append(log, deltas.Take(300), new Random(11));
        Receive(r, deltas.Take(300));
        Assert.InRange(r.ReceiveTimes.SampleCount, 3, 5);
        var now = TimeOf(300);
        var exact = Enumerable.Range(1, 300).Last(s => TimeOf(s) <= now - 1500);
        var b = r.ApplyWindow(now);
        Assert.True(b <= exact && b >= exact - 100, $"base at #{b}: want at most #{exact} and at most 1 s (100 records) behind it");
        Append(log, deltas.Skip(300), new Random(12));
        Receive(r, deltas.Skip(300)); // the last of these stay in memory only
        r.Dispose();
        log.Dispose();

        var reopenedAt = TimeOf(400) + 5000;
        log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(window, TimeSpan.FromSeconds(1)), nowUnixMs: reopenedAt);
        try
        {
            Assert.Equal(reopenedAt, r.TimesOf(400).ReceivedUnixMs);
            var b2 = r.ApplyWindow(TimeOf(400));
            Assert.True(b2 <= Enumerable.Range(1, 400).Last(s => TimeOf(s) <= TimeOf(400) - 1500), $"after the reopen the base rolled to #{b2}, past the window");
            Assert.True(r.ApplyWindow(reopenedAt + 1500) == 400, "records stamped at the reopen expire one window after it");
        }
        finally
        {
            r.Dispose();
            log.Dispose();
        }
    }

    /// <summary>
    /// A pause in the stream keeps the boundary exact however sparse the samples: a time between two bursts (say just
    /// after a bookmark) resolves to the end of the first burst, not to a sample before it.
    /// </summary>
    [Fact]
    public void ATimeBetweenTwoBurstsResolvesToTheEndOfTheFirst()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(19, 40, Day);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(null, TimeSpan.FromSeconds(1)));
        Append(log, deltas, new Random(19));
        foreach (var d in deltas) r.Received(d.Sequence, TimeOf(d.Sequence) + (d.Sequence > 20 ? 5000 : 0)); // 5 s pause after #20
        var p = r.ResolveTimePoint(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(20) + 1), TimeOf(40) + 6000);
        Assert.True(p.Sequence == 20, $"a time just after the first burst resolved to #{p.Sequence}, want #20");
        Assert.Equal(TimeOf(20), p.ReceivedUnixMs);
    }

    /// <summary>A sample cut short (a crash mid-write) or damaged ends the index there; the records after it are stamped at open.</summary>
    [Fact]
    public void ATornSampleEndsTheIndexAndItsRecordsAreStampedAtOpen()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(13, 50);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using (var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(null)))
        {
            Append(log, deltas, new Random(13));
            Receive(r, deltas);
        }
        var path = Path.Combine(dir.Sub("retention"), ReceiveTimeIndex.FileName);
        var bytes = File.ReadAllBytes(path);
        bytes[24 + 24 * 30 + 3] ^= 0x40; // the 31st sample (record #31)
        File.WriteAllBytes(path, bytes[..^7]);
        var logged = new List<string>();
        using var reopened = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(null), log: logged.Add, nowUnixMs: 1_800_000_000_000);
        Assert.Contains(logged, m => m.Contains("ends at sample 30"));
        Assert.Equal(TimeOf(30), reopened.TimesOf(30).ReceivedUnixMs);
        Assert.Equal(1_800_000_000_000, reopened.TimesOf(31).ReceivedUnixMs);
        Assert.Equal(1_800_000_000_000, reopened.TimesOf(50).ReceivedUnixMs);
        Assert.Equal(30, reopened.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(1_799_999_999_999), 1_800_000_000_000));
    }

    /// <summary>
    /// Records journaled before receive times were kept (no index file) keep aging by their agent time; records after
    /// the upgrade age by receive time.
    /// </summary>
    [Fact]
    public void RecordsFromBeforeReceiveTimesAgeByTheAgentsTime()
    {
        using var dir = new TempDir();
        var deltas = RandomDeltas(17, 60);
        using var log = SegmentLog.Open(dir.Sub("journal"), LogOptions);
        using (var old = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(null)))
            Append(log, deltas.Take(30), new Random(17));
        File.Delete(Path.Combine(dir.Sub("retention"), ReceiveTimeIndex.FileName)); // as a disk from before this change
        var logged = new List<string>();
        using var r = DiskRetention.Open(dir.Sub("retention"), Disk, DiskSize, log, RetentionProperties.Compression, Options(TimeSpan.FromMilliseconds(100)), log: logged.Add);
        Assert.Contains(logged, m => m.Contains("age by the agent's time"));
        Assert.Equal(30, r.ReceiveTimes.LegacyThrough);
        Append(log, deltas.Skip(30), new Random(18));
        foreach (var d in deltas.Skip(30)) r.Received(d.Sequence, TimeOf(d.Sequence) + Day); // received a day after the agent's stamps
        Assert.Null(r.TimesOf(12).ReceivedUnixMs);
        Assert.Equal(TimeOf(12), r.TimesOf(12).AgentTimeUnixMs);
        Assert.Equal(12, r.ApplyWindow(TimeOf(12) + 100)); // legacy: by the agent's time
        Assert.Equal(30, r.ApplyWindow(TimeOf(50) + 100)); // all legacy records are old; the new ones were received a day later
        Assert.Equal(45, r.ApplyWindow(TimeOf(45) + Day + 100));
        Assert.Equal(45, r.ResolveTime(DateTimeOffset.FromUnixTimeMilliseconds(TimeOf(45) + Day), TimeOf(60) + Day));
    }
}
