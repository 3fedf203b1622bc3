using System.Buffers.Binary;
using SiteRecovery.Azure.Replicas;

namespace SiteRecovery.Journal.Tests;

/// <summary>The fixed-VHD footer: field layout, checksum and the specification's CHS geometry.</summary>
public sealed class VhdFooterTests
{
    private static readonly Guid Id = Guid.Parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    private static readonly DateTimeOffset At = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(0x12345678);

    [Fact]
    public void FieldsSitWhereTheSpecificationPutsThem()
    {
        const long size = 20L * 1024 * 1024;
        var b = VhdFooter.ForFixedDisk(size, Id, At).ToBytes();
        Assert.Equal(512, b.Length);
        Assert.Equal("conectix"u8.ToArray(), b[0..8]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(8)));          // features: reserved bit set
        Assert.Equal(0x00010000u, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(12))); // format version 1.0
        Assert.Equal(ulong.MaxValue, BinaryPrimitives.ReadUInt64BigEndian(b.AsSpan(16))); // fixed: no dynamic header
        Assert.Equal(0x12345678u, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(24))); // seconds since 2000-01-01 UTC
        Assert.Equal("win "u8.ToArray(), b[28..32]);                                  // Hyper-V: readers size it by the current size
        Assert.Equal(0x5769326Bu, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(36))); // "Wi2k"
        Assert.Equal(size, BinaryPrimitives.ReadInt64BigEndian(b.AsSpan(40)));          // original size
        Assert.Equal(size, BinaryPrimitives.ReadInt64BigEndian(b.AsSpan(48)));          // current size
        Assert.Equal(602, BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(56)));          // cylinders
        Assert.Equal(4, b[58]);                                                         // heads
        Assert.Equal(17, b[59]);                                                        // sectors per track
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(60)));           // disk type: fixed
        Assert.Equal(Id.ToByteArray(bigEndian: true), b[68..84]);
        Assert.Equal(0, b[84]);                                                         // saved state
        Assert.All(b[85..], x => Assert.Equal(0, x));                                  // reserved
    }

    [Fact]
    public void ChecksumIsTheOnesComplementOfTheByteSum()
    {
        var b = VhdFooter.ForFixedDisk(1L << 30, Id, At).ToBytes();
        uint sum = 0;
        for (var i = 0; i < 512; i++) if (i is < 64 or >= 68) sum += b[i];
        Assert.Equal(~sum, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(64)));

        var parsed = VhdFooter.Parse(b);
        Assert.Equal(VhdFooter.ForFixedDisk(1L << 30, Id, At), parsed);

        b[100] ^= 1; // a reserved byte: still covered by the checksum
        var e = Assert.Throws<InvalidDataException>(() => VhdFooter.Parse(b));
        Assert.Contains("checksum", e.Message);
    }

    [Theory]
    [InlineData(20L * 1024 * 1024, 602, 4, 17)]        // small: 17 sectors per track, at least 4 heads
    [InlineData(127L * 1024 * 1024, 1019, 15, 17)]     // heads grow with the size up to 16
    [InlineData(3L * 1024 * 1024 + 512, 90, 4, 17)]
    [InlineData(1L << 30, 2080, 16, 63)]               // past 17 and 31 sectors per track
    [InlineData(40L << 30, 20560, 16, 255)]            // at or past 65535 x 16 x 63 sectors: 255 per track
    [InlineData(8L << 40, 65535, 16, 255)]             // capped at the largest geometry
    public void GeometryFollowsTheSpecificationsAlgorithm(long size, int cylinders, int heads, int sectors)
    {
        Assert.Equal(new VhdGeometry((ushort)cylinders, (byte)heads, (byte)sectors), VhdGeometry.For(size));
    }

    [Fact]
    public void DamagedFootersAreRefusedNamingTheField()
    {
        var good = VhdFooter.ForFixedDisk(1 << 20, Id, At).ToBytes();
        var cookie = (byte[])good.Clone();
        cookie[0] = (byte)'x';
        Assert.Contains("cookie", Assert.Throws<InvalidDataException>(() => VhdFooter.Parse(cookie)).Message);
        var dynamic = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(dynamic.AsSpan(60), 3);
        BinaryPrimitives.WriteUInt32BigEndian(dynamic.AsSpan(64), VhdFooter.Checksum(dynamic));
        Assert.Contains("disk type is 3", Assert.Throws<InvalidDataException>(() => VhdFooter.Parse(dynamic)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => VhdFooter.ForFixedDisk(1000, Id, At));
        Assert.Throws<InvalidDataException>(() => VhdFooter.Parse(good.AsSpan(0, 511)));
    }
}
