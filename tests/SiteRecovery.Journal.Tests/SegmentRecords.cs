using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Tests;

/// <summary>Records the segment-log tests append, and the check that a log holds exactly them.</summary>
internal static class SegmentRecords
{
    /// <summary>Random bytes that depend only on the sequence and <paramref name="salt"/>, so a test can rebuild what it appended.</summary>
    public static byte[] For(long seq, int length, int salt)
    {
        var bytes = new byte[length];
        new Random(unchecked((int)seq * 7919 + salt)).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Bytes the frames of records <paramref name="first"/>..<paramref name="through"/> take in a segment file.</summary>
    public static long FrameBytes(IReadOnlyList<byte[]> expected, long first, long through)
    {
        long bytes = 0;
        for (var s = first; s <= through; s++) bytes += 12 + expected[(int)(s - 1)].Length;
        return bytes;
    }

    /// <summary>
    /// A crash after the durable part of <paramref name="file"/>: the rest is cut anywhere (chosen by
    /// <paramref name="pick"/>), then <paramref name="garbageLength"/> random bytes follow. Returns where it was cut.
    /// </summary>
    public static long CrashTail(string file, long durableBytes, int pick, int garbageLength)
    {
        var fileLength = new FileInfo(file).Length;
        var cutAt = durableBytes + (long)((uint)pick % (ulong)(fileLength - durableBytes + 1));
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Write);
        fs.SetLength(cutAt);
        if (garbageLength > 0)
        {
            var garbage = new byte[garbageLength];
            new Random(pick).NextBytes(garbage);
            fs.Seek(0, SeekOrigin.End);
            fs.Write(garbage);
        }
        return cutAt;
    }

    /// <summary>Reads from <paramref name="from"/> and checks every record through the last one, in order and byte-equal.</summary>
    public static void AssertHolds(SegmentLog log, IReadOnlyList<byte[]> expected, long from)
    {
        var seq = from;
        foreach (var (s, r) in log.Read(from))
        {
            Assert.Equal(seq, s);
            Assert.True(expected[(int)(s - 1)].AsSpan().SequenceEqual(r.Span), $"record {s} differs");
            seq++;
        }
        Assert.Equal(log.LastSequence + 1, seq);
    }
}
