using System.Buffers;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// A reader may skip hashing the frames the log wrote itself since it was opened (the spool's forwarder, whose records
/// the master target verifies anyway), never those a reopen found: after a restart or a crash every frame read is checked.
/// </summary>
public sealed class SegmentTrustedReadTests
{
    private static SegmentLogOptions Options => new()
    {
        SegmentBytes = 8 << 10,
        WriteBufferBytes = 4096,
        ReadBufferBytes = 4096,
        VerifySealedOnOpen = false, // so the damage below is first met by a read, not by the reopen
    };

    [Fact]
    public void Frames_written_since_open_are_trusted_when_asked_and_frames_found_at_open_are_verified_always()
    {
        using var dir = new TempDir();
        var path = dir.Sub("log");
        var expected = new List<byte[]>();
        string damaged;
        const long victim = 3;
        using (var log = SegmentLog.Open(path, Options))
        {
            for (var s = 1; s <= 40; s++)
            {
                expected.Add(SegmentRecords.For(s, 700 + s, 8));
                log.Append(expected[^1], s);
            }
            log.Flush();
            // One payload byte of record 3, in the first (sealed) file, flips after it was written.
            damaged = Directory.GetFiles(path, "*.seg").Order().First();
            var at = SegmentRecords.FrameBytes(expected, 1, victim - 1) + 12 + 100;
            using (var file = File.OpenHandle(damaged, FileMode.Open, FileAccess.ReadWrite))
            {
                var one = new byte[1];
                RandomAccess.Read(file, one, at);
                one[0] ^= 0x5a;
                RandomAccess.Write(file, one, at);
            }

            var checkedRead = Assert.Throws<SegmentCorruptException>(() => log.Read(1, long.MaxValue, ArrayPool<byte>.Shared.Rent).ToList());
            Assert.Equal(victim, checkedRead.Sequence);
            var trusted = log.Read(1, long.MaxValue, ArrayPool<byte>.Shared.Rent, verifyOwnWrites: false).ToList();
            Assert.True(trusted.Count == expected.Count, $"a trusted read of the log's own frames got {trusted.Count} records, want all {expected.Count}");
            Assert.NotEqual(expected[(int)victim - 1], trusted[(int)victim - 1].Record.ToArray());
            Assert.Equal(expected[(int)victim], trusted[(int)victim].Record.ToArray());
        }

        using var reopened = SegmentLog.Open(path, Options);
        var afterReopen = Assert.Throws<SegmentCorruptException>(() => reopened.Read(1, long.MaxValue, ArrayPool<byte>.Shared.Rent, verifyOwnWrites: false).ToList());
        Assert.Equal(victim, afterReopen.Sequence);
        Assert.Equal(damaged, afterReopen.File);
        // What the reopened log writes itself is trusted again.
        reopened.Append(SegmentRecords.For(41, 500, 8), 41);
        reopened.Flush();
        Assert.Single(reopened.Read(41, long.MaxValue, ArrayPool<byte>.Shared.Rent, verifyOwnWrites: false));
    }
}
