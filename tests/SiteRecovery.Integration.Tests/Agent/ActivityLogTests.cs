using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Agent.Replication;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// The write-ahead activity log against its promise: whatever the interleaving of writes, acknowledgements and a crash,
/// every extent holding a write the process server had not acknowledged is in the log read back after the crash.
/// </summary>
public sealed class ActivityLogTests : IDisposable
{
    const int Extent = 64 << 10;
    const long DiskSize = 64L * Extent;
    readonly string _dir = Directory.CreateTempSubdirectory("activity-log-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string PathOf(string name) => Path.Combine(_dir, name + ".activity");

    static ActivityLog Open(string path, int capacity, out ActivityLog.Recovered? recovered, out string? why) =>
        ActivityLog.Open(path, DiskSize, Extent, capacity, out recovered, out why);

    public enum Op { Write, Ack }

    [Property(MaxTest = 200)]
    public Property Every_extent_with_an_unacknowledged_write_is_in_the_log_after_a_crash(PositiveInt seed) => Prop.ForAll(
        Arb.From(Gen.Choose(1, 12)), Arb.From(Gen.Choose(1, 300)), (capacity, steps) =>
        {
            var rng = new Random(seed.Get);
            var path = PathOf($"p{seed.Get}-{capacity}-{steps}");
            long sequence = 0, acked = 0;
            var lastWrite = new Dictionary<long, long>(); // model: extent → last sequence written in it
            using (var log = Open(path, capacity, out _, out _))
            {
                log.Reset([], false);
                for (var i = 0; i < steps; i++)
                {
                    if (rng.Next(3) == 0) { acked = rng.NextInt64(acked, sequence + 1); continue; }
                    // Mostly a few hot extents, sometimes anywhere; writes may straddle two extents.
                    var offset = rng.Next(4) == 0 ? rng.NextInt64(0, DiskSize - 1) : rng.NextInt64(0, 4 * Extent);
                    var length = Math.Min(DiskSize - offset, rng.Next(1, 2 * Extent));
                    log.EnsureLogged(offset, length, (e, last) => last <= acked);
                    sequence++;
                    log.Noted(offset, length, sequence);
                    for (var e = offset / Extent; e <= (offset + length - 1) / Extent; e++) lastWrite[e] = sequence;
                }
            } // the crash: nothing more is written; what the file says is all that survives
            using var reopened = Open(path, capacity, out var recovered, out var why);
            if (recovered is null) return false.Label($"no log after the crash: {why}");
            var owed = lastWrite.Where(kv => kv.Value > acked).Select(kv => kv.Key).ToHashSet();
            var missing = owed.Except(recovered.Extents).ToList();
            return (missing.Count == 0).Label($"extents with unacknowledged writes missing from the log: {string.Join(", ", missing)}");
        });

    [Fact]
    public void The_log_spills_past_its_capacity_while_nothing_is_acknowledged_and_shrinks_back_once_it_is()
    {
        var path = PathOf("spill");
        using (var log = Open(path, 2, out _, out _))
        {
            log.Reset([], false);
            long acked = 0;
            for (var e = 0; e < 5; e++) { log.EnsureLogged(e * Extent, 10, (_, last) => last <= acked); log.Noted(e * Extent, 10, e + 1); }
            Assert.Equal(5, log.Count);           // the path is down: nothing may leave, writes are not blocked
            acked = 5;
            log.EnsureLogged(10L * Extent, 10, (_, last) => last <= acked);
            Assert.Equal(2, log.Count);           // all acknowledged: back to the bound (the new one and the newest old one)
        }
        using var again = Open(path, 2, out var recovered, out _);
        Assert.Contains(10L, recovered!.Extents);
        Assert.Equal(2, recovered.Extents.Count);
    }

    [Fact]
    public void A_torn_newer_slot_falls_back_to_the_older_and_two_torn_slots_say_why()
    {
        var path = PathOf("torn");
        using (var log = Open(path, 8, out _, out _))
        {
            log.Reset([], false);                                   // generation 1 → slot 1
            log.EnsureLogged(3 * Extent, 1, (_, _) => false);       // generation 2 → slot 0: {3}
            log.EnsureLogged(5 * Extent, 1, (_, _) => false);       // generation 3 → slot 1: {3, 5}
        }
        const int header = 24, bitmapByte = 32;                       // the file's geometry header; a byte of a slot's bitmap
        var slot = (new FileInfo(path).Length - header) / 2;
        using (var f = new FileStream(path, FileMode.Open)) { f.Position = header + slot + bitmapByte; f.WriteByte(0xEE); } // tear slot 1
        using (var log = Open(path, 8, out var recovered, out _))
            Assert.Equal([3L], recovered!.Extents);
        using (var f = new FileStream(path, FileMode.Open)) { f.Position = header + bitmapByte; f.WriteByte(0xEE); } // tear slot 0 too
        using (var log = Open(path, 8, out var recovered, out var why))
        {
            Assert.Null(recovered);
            Assert.Contains("checksum", why);
            Assert.Contains(path, why);
        }
    }

    [Fact]
    public void A_log_made_for_another_disk_size_or_a_missing_log_is_not_used()
    {
        var path = PathOf("size");
        using (var log = Open(path, 8, out var none, out var why))
        {
            Assert.Null(none);
            Assert.Contains("no activity log", why);
            log.Reset([1], false);
        }
        using var other = ActivityLog.Open(path, DiskSize * 2, Extent, 8, out var recovered, out var reason);
        Assert.Null(recovered);
        Assert.Contains($"written for a disk of {DiskSize} bytes", reason);
    }

    [Fact]
    public void An_owed_full_scan_survives_a_crash_until_it_is_done()
    {
        var path = PathOf("full");
        using (var log = Open(path, 8, out _, out _)) { log.Reset([], fullScanOwed: true); }
        using (var log = Open(path, 8, out var recovered, out _))
        {
            Assert.True(recovered!.FullScanOwed);
            log.Reset([], fullScanOwed: true);
            log.ResyncFinished(100, fullScan: true);
            log.EnsureLogged(0, 1, (_, _) => false); // the next write records that no full scan is owed any more
        }
        using var done = Open(path, 8, out var after, out _);
        Assert.False(after!.FullScanOwed);
    }
}
