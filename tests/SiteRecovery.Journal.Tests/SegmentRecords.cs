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
