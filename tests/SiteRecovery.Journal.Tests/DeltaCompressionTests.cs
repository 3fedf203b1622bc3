using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Journal.Tests;

public sealed class DeltaCompressionTests
{
    private static readonly DeltaCompression Compression = new();

    /// <summary>Payloads of the three shapes that matter: incompressible, all zero, repetitive.</summary>
    internal static Gen<byte[]> Payloads =>
        from kind in Gen.Choose(0, 2)
        from length in Gen.Choose(1, 70_000)
        from seed in Gen.Choose(0, int.MaxValue)
        select MakePayload(kind, length, seed);

    internal static byte[] MakePayload(int kind, int length, int seed)
    {
        var bytes = new byte[length];
        var rng = new Random(seed);
        switch (kind)
        {
            case 0: rng.NextBytes(bytes); break;
            case 1: break;
            default:
                var pattern = new byte[rng.Next(1, 17)];
                rng.NextBytes(pattern);
                for (var i = 0; i < length; i++) bytes[i] = pattern[i % pattern.Length];
                break;
        }
        return bytes;
    }

    private static Delta WriteDelta(byte[] payload, long seq = 7) =>
        Delta.Create("disk-a", seq, DeltaKind.Write, 4096, payload.Length, payload, 1_700_000_000_000);

    [Property(MaxTest = 60)]
    public Property RoundTripsAnyPayload() =>
        Prop.ForAll(Payloads.ToArbitrary(), ArbMap.Default.ArbFor<bool>(), (payload, compress) =>
        {
            var d = WriteDelta(payload);
            var record = Compression.EncodeStored(d, compress);
            var back = Compression.DecodeStored(record);
            Assert.Equal(d.Sequence, back.Sequence);
            Assert.Equal(d.Offset, back.Offset);
            Assert.Equal(d.Checksum, back.Checksum);
            Assert.True(payload.AsSpan().SequenceEqual(back.Payload.Span));
            DeltaCodec.Decode(record, out var flagged);
            // Compressed only when asked and when it actually saves space; never bigger than raw.
            Assert.True(record.Length <= DeltaCodec.EncodedSize(d, payload.Length));
            if (!compress) Assert.False(flagged);
            // The buffer-writer overload produces the very same bytes.
            var writer = new System.Buffers.ArrayBufferWriter<byte>();
            Assert.Equal(flagged, Compression.EncodeStored(d, compress, writer));
            Assert.Equal(record, writer.WrittenSpan.ToArray());
        });

    [Fact]
    public void CompressesZerosAndStoresRandomRaw()
    {
        var zeros = Compression.EncodeStored(WriteDelta(new byte[65536]), true);
        DeltaCodec.Decode(zeros, out var zc);
        Assert.True(zc);
        Assert.True(zeros.Length < 1000);

        var random = MakePayload(0, 65536, 1);
        var raw = Compression.EncodeStored(WriteDelta(random), true);
        DeltaCodec.Decode(raw, out var rc);
        Assert.False(rc);
    }

    [Fact]
    public void NonWriteKindsRoundTrip()
    {
        foreach (var d in new[]
                 {
                     Delta.Create("d", 1, DeltaKind.Zero, 0, 8192, ReadOnlyMemory<byte>.Empty, 5),
                     Delta.Create("d", 2, DeltaKind.Trim, 512, 512, ReadOnlyMemory<byte>.Empty, 5),
                     Delta.Bookmark("d", 3, "app-consistent-42", 5),
                 })
        {
            var back = Compression.DecodeStored(Compression.EncodeStored(d, true));
            Assert.Equal(d.Kind, back.Kind);
            Assert.True(d.Payload.Span.SequenceEqual(back.Payload.Span));
            Assert.True(back.IsIntact);
        }
    }

    /// <summary>
    /// Any single flipped bit in a stored record is refused, or, when it hits a zstd frame field that does not change
    /// the inflated bytes (e.g. the declared content size), decodes to exactly the original delta: damage never turns
    /// into a different delta. Raw (uncompressed) records are always refused. (Segment frames add a hash over the stored
    /// bytes, so on disk every flip is caught; see SegmentLogTests.)
    /// </summary>
    [Property(MaxTest = 200)]
    public Property DetectsAnySingleBitFlip() =>
        Prop.ForAll(Payloads.ToArbitrary(), ArbMap.Default.ArbFor<bool>(), Gen.Choose(0, int.MaxValue).ToArbitrary(), (payload, compress, pick) =>
        {
            var original = WriteDelta(payload);
            var record = Compression.EncodeStored(original, compress);
            DeltaCodec.Decode(record, out var wasCompressed);
            var bit = (int)((uint)pick % (uint)(record.Length * 8));
            record[bit / 8] ^= (byte)(1 << (bit % 8));
            Delta? back = null;
            var e = Record.Exception(() => back = Compression.DecodeStored(record));
            if (e is null && wasCompressed)
            {
                Assert.Equal(original with { Payload = default }, back! with { Payload = default });
                Assert.True(payload.AsSpan().SequenceEqual(back!.Payload.Span));
                return;
            }
            Assert.True(e is ChecksumMismatchException or DeltaFormatException, $"bit {bit} of {record.Length * 8}: {e?.GetType().Name ?? "no exception"}");
        });

    [Fact]
    public void MismatchNamesDiskSequenceAndWhat()
    {
        var record = Compression.EncodeStored(WriteDelta(MakePayload(0, 1000, 3), seq: 99), false);
        record[^1] ^= 0x40; // last payload byte
        var e = Assert.Throws<ChecksumMismatchException>(() => Compression.DecodeStored(record));
        Assert.Equal("disk-a", e.DiskId);
        Assert.Equal(99, e.Sequence);
        Assert.Contains("disk-a#99", e.Message);
        Assert.Contains("checksum", e.What);
    }
}
