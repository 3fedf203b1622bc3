using System.Buffers.Binary;
using System.Text;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// The 512-byte footer of a fixed VHD (Microsoft's Virtual Hard Disk Image Format Specification): the last sector of a
/// page blob replica, so the blob is a disk image Azure can make a managed disk from and qemu reads as <c>-f vpc</c>.
/// All fields are big-endian. A fixed disk is its data followed by this footer; nothing else.
/// </summary>
public sealed record VhdFooter(long CurrentSize, long OriginalSize, DateTimeOffset Timestamp, Guid UniqueId, VhdGeometry Geometry)
{
    public const int Length = 512;
    public const uint FixedDiskType = 2;
    /// <summary>Bit 1 of the features field is reserved and must always be set.</summary>
    public const uint Features = 0x00000002;
    public const uint FormatVersion = 0x00010000;
    /// <summary>A fixed disk has no dynamic header: the data offset is all ones.</summary>
    public const ulong FixedDataOffset = 0xFFFFFFFFFFFFFFFF;
    /// <summary>
    /// Creator application "win " (Hyper-V's tag). Readers size a VHD either by its CHS geometry, which rounds a disk down
    /// (a 5 MiB + 1.5 KiB disk reads as 5,222,400 bytes), or by the footer's current size, and choose by this tag: qemu
    /// 7.2 takes the current size only for "win ", "qem2", "d2v ", "CTXS" and "tap\0" (checked with qemu-img info), Azure
    /// always does. Hyper-V's tag keeps the disk's exact size for every reader.
    /// </summary>
    public static readonly byte[] CreatorApplication = "win "u8.ToArray();
    public const uint CreatorVersion = 0x00010000;
    /// <summary>Creator host OS "Wi2k": the value Azure's own tools write.</summary>
    public const uint CreatorHostOs = 0x5769326B;
    static readonly byte[] Cookie = "conectix"u8.ToArray();
    /// <summary>VHD time stamps count seconds from 2000-01-01 00:00:00 UTC.</summary>
    static readonly DateTimeOffset Epoch = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // Field offsets, from the specification's footer table.
    const int CookieAt = 0, FeaturesAt = 8, VersionAt = 12, DataOffsetAt = 16, TimestampAt = 24, CreatorAppAt = 28,
        CreatorVersionAt = 32, CreatorOsAt = 36, OriginalSizeAt = 40, CurrentSizeAt = 48, GeometryAt = 56, DiskTypeAt = 60,
        ChecksumAt = 64, UniqueIdAt = 68, SavedStateAt = 84;

    /// <summary>A footer for a fixed disk of <paramref name="size"/> bytes (a whole number of 512-byte sectors).</summary>
    public static VhdFooter ForFixedDisk(long size, Guid uniqueId, DateTimeOffset timestamp)
    {
        if (size <= 0 || size % 512 != 0)
            throw new ArgumentOutOfRangeException(nameof(size), $"a fixed VHD holds whole 512-byte sectors; {size} bytes is not a positive multiple of 512");
        // The time stamp has one-second resolution; keep the record equal to what it encodes to.
        var seconds = Math.Clamp((long)(timestamp - Epoch).TotalSeconds, 0, uint.MaxValue);
        return new VhdFooter(size, size, Epoch.AddSeconds(seconds), uniqueId, VhdGeometry.For(size));
    }

    /// <summary>The footer's 512 bytes, checksum included.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Length];
        var s = b.AsSpan();
        Cookie.CopyTo(s[CookieAt..]);
        BinaryPrimitives.WriteUInt32BigEndian(s[FeaturesAt..], Features);
        BinaryPrimitives.WriteUInt32BigEndian(s[VersionAt..], FormatVersion);
        BinaryPrimitives.WriteUInt64BigEndian(s[DataOffsetAt..], FixedDataOffset);
        BinaryPrimitives.WriteUInt32BigEndian(s[TimestampAt..], (uint)(Timestamp - Epoch).TotalSeconds);
        CreatorApplication.CopyTo(s[CreatorAppAt..]);
        BinaryPrimitives.WriteUInt32BigEndian(s[CreatorVersionAt..], CreatorVersion);
        BinaryPrimitives.WriteUInt32BigEndian(s[CreatorOsAt..], CreatorHostOs);
        BinaryPrimitives.WriteInt64BigEndian(s[OriginalSizeAt..], OriginalSize);
        BinaryPrimitives.WriteInt64BigEndian(s[CurrentSizeAt..], CurrentSize);
        BinaryPrimitives.WriteUInt16BigEndian(s[GeometryAt..], Geometry.Cylinders);
        s[GeometryAt + 2] = Geometry.Heads;
        s[GeometryAt + 3] = Geometry.SectorsPerTrack;
        BinaryPrimitives.WriteUInt32BigEndian(s[DiskTypeAt..], FixedDiskType);
        // The specification stores the unique id as 16 raw bytes; big-endian keeps the Guid's text form readable in them.
        UniqueId.TryWriteBytes(s.Slice(UniqueIdAt, 16), bigEndian: true, out _);
        s[SavedStateAt] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(s[ChecksumAt..], Checksum(s));
        return b;
    }

    /// <summary>
    /// Reads a fixed-disk footer; throws <see cref="InvalidDataException"/> naming the first field that is wrong (cookie,
    /// checksum, disk type, data offset, sizes).
    /// </summary>
    public static VhdFooter Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length != Length) throw new InvalidDataException($"VHD footer: {b.Length} bytes, want {Length}");
        if (!b[CookieAt..(CookieAt + 8)].SequenceEqual(Cookie))
            throw new InvalidDataException($"VHD footer: cookie is '{Encoding.ASCII.GetString(b[CookieAt..(CookieAt + 8)])}', want 'conectix'");
        var stored = BinaryPrimitives.ReadUInt32BigEndian(b[ChecksumAt..]);
        var computed = Checksum(b);
        if (stored != computed) throw new InvalidDataException($"VHD footer: checksum is 0x{stored:X8}, the content sums to 0x{computed:X8}");
        var type = BinaryPrimitives.ReadUInt32BigEndian(b[DiskTypeAt..]);
        if (type != FixedDiskType) throw new InvalidDataException($"VHD footer: disk type is {type}, want {FixedDiskType} (fixed)");
        var dataOffset = BinaryPrimitives.ReadUInt64BigEndian(b[DataOffsetAt..]);
        if (dataOffset != FixedDataOffset) throw new InvalidDataException($"VHD footer: data offset is 0x{dataOffset:X16}, want 0x{FixedDataOffset:X16} (fixed)");
        var current = BinaryPrimitives.ReadInt64BigEndian(b[CurrentSizeAt..]);
        var original = BinaryPrimitives.ReadInt64BigEndian(b[OriginalSizeAt..]);
        if (current <= 0 || current % 512 != 0) throw new InvalidDataException($"VHD footer: current size {current} is not a positive multiple of 512");
        var geometry = new VhdGeometry(BinaryPrimitives.ReadUInt16BigEndian(b[GeometryAt..]), b[GeometryAt + 2], b[GeometryAt + 3]);
        var timestamp = Epoch.AddSeconds(BinaryPrimitives.ReadUInt32BigEndian(b[TimestampAt..]));
        return new VhdFooter(current, original, timestamp, new Guid(b.Slice(UniqueIdAt, 16), bigEndian: true), geometry);
    }

    /// <summary>One's complement of the byte sum of the footer, the checksum field itself left out.</summary>
    public static uint Checksum(ReadOnlySpan<byte> footer)
    {
        uint sum = 0;
        for (var i = 0; i < footer.Length; i++)
            if (i < ChecksumAt || i >= ChecksumAt + 4) sum += footer[i];
        return ~sum;
    }
}

/// <summary>A VHD's cylinder/head/sector geometry.</summary>
public readonly record struct VhdGeometry(ushort Cylinders, byte Heads, byte SectorsPerTrack)
{
    /// <summary>The largest geometry the specification allows (65535 × 16 × 255 sectors, about 127 GiB); larger disks get it.</summary>
    public const long MaxSectors = 65535L * 16 * 255;

    /// <summary>The geometry the VHD specification's algorithm (appendix "CHS Calculation") gives a disk of <paramref name="size"/> bytes.</summary>
    public static VhdGeometry For(long size)
    {
        var totalSectors = Math.Min(size / 512, MaxSectors);
        long sectorsPerTrack, heads, cylinderTimesHeads;
        if (totalSectors >= 65535L * 16 * 63)
        {
            sectorsPerTrack = 255;
            heads = 16;
            cylinderTimesHeads = totalSectors / sectorsPerTrack;
        }
        else
        {
            sectorsPerTrack = 17;
            cylinderTimesHeads = totalSectors / sectorsPerTrack;
            heads = Math.Max((cylinderTimesHeads + 1023) / 1024, 4);
            if (cylinderTimesHeads >= heads * 1024 || heads > 16)
            {
                sectorsPerTrack = 31;
                heads = 16;
                cylinderTimesHeads = totalSectors / sectorsPerTrack;
            }
            if (cylinderTimesHeads >= heads * 1024)
            {
                sectorsPerTrack = 63;
                heads = 16;
                cylinderTimesHeads = totalSectors / sectorsPerTrack;
            }
        }
        return new VhdGeometry((ushort)(cylinderTimesHeads / heads), (byte)heads, (byte)sectorsPerTrack);
    }
}
