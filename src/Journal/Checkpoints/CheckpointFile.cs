using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Checkpoints;

/// <summary>
/// A persisted checkpoint index: the extent map of a disk at sequence <see cref="Sequence"/> (which journal record
/// each range last came from), so a point at or above it needs only the journal after it. Named
/// <c>cp-{sequence}.idx</c>; written to a temp file, fsync'd and renamed; an XxHash3 trailer covers the whole file
/// and is verified on load.
/// </summary>
/// <param name="Sequence">The point the map describes.</param>
/// <param name="MaxTimeUnixMs">Highest delta time at or below <see cref="Sequence"/> (for resolving timestamps).</param>
/// <param name="ChurnBytes">Bytes of write/zero deltas between the previous checkpoint (or base) and this one.</param>
public sealed record CheckpointFile(long Sequence, long MaxTimeUnixMs, long ChurnBytes, IReadOnlyList<Extent> Extents)
{
    private const ulong Magic = 0x3130_544B_4352_5253; // "SRCKPT01" little endian
    private const int HeaderBytes = 8 + 8 + 8 + 8 + 8 + 8;
    private const int EntryBytes = 8 + 8 + 8 + 1 + 8 + 8 + 4;

    public static string FileName(long sequence) => $"cp-{sequence.ToString("D20", CultureInfo.InvariantCulture)}.idx";

    /// <summary>The sequence in a checkpoint file name, or null if the name is not one.</summary>
    public static long? ParseName(string name)
        => name.StartsWith("cp-", StringComparison.Ordinal) && name.EndsWith(".idx", StringComparison.Ordinal)
           && long.TryParse(name.AsSpan(3, name.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : null;

    /// <summary>Writes the checkpoint durably into <paramref name="directory"/>; <paramref name="hook"/> sees each step (crash tests).</summary>
    public string Write(string directory, long diskSize, Action<string>? hook = null)
    {
        var bytes = new byte[HeaderBytes + EntryBytes * Extents.Count + 8];
        var s = bytes.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(s, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], diskSize);
        BinaryPrimitives.WriteInt64LittleEndian(s[16..], Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(s[24..], MaxTimeUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(s[32..], ChurnBytes);
        BinaryPrimitives.WriteInt64LittleEndian(s[40..], Extents.Count);
        var p = HeaderBytes;
        foreach (var e in Extents)
        {
            BinaryPrimitives.WriteInt64LittleEndian(s[p..], e.Start);
            BinaryPrimitives.WriteInt64LittleEndian(s[(p + 8)..], e.Length);
            BinaryPrimitives.WriteInt64LittleEndian(s[(p + 16)..], e.Sequence);
            s[p + 24] = (byte)e.Kind;
            BinaryPrimitives.WriteInt64LittleEndian(s[(p + 25)..], e.Location.SegmentFirst);
            BinaryPrimitives.WriteInt64LittleEndian(s[(p + 33)..], e.Location.Offset);
            BinaryPrimitives.WriteInt32LittleEndian(s[(p + 41)..], e.DataOffset);
            p += EntryBytes;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(s[p..], XxHash3.HashToUInt64(s[..p]));
        var path = Path.Combine(directory, FileName(Sequence));
        DurableFile.WriteAtomically(path, bytes, hook, "checkpoint");
        return path;
    }

    /// <summary>Loads and verifies a checkpoint file; <see cref="InvalidDataException"/> names the file and what is wrong.</summary>
    public static CheckpointFile Read(string path, long diskSize) => Parse(File.ReadAllBytes(path), path, diskSize);

    public static CheckpointFile Parse(byte[] bytes, string path, long diskSize)
    {
        var s = bytes.AsSpan();
        if (s.Length < HeaderBytes + 8 || BinaryPrimitives.ReadUInt64LittleEndian(s) != Magic)
            throw new InvalidDataException($"checkpoint '{path}': not a checkpoint file (bad magic or too short)");
        if (XxHash3.HashToUInt64(s[..^8]) != BinaryPrimitives.ReadUInt64LittleEndian(s[^8..]))
            throw new InvalidDataException($"checkpoint '{path}': checksum mismatch");
        if (BinaryPrimitives.ReadInt64LittleEndian(s[8..]) != diskSize)
            throw new InvalidDataException($"checkpoint '{path}': made for a disk of {BinaryPrimitives.ReadInt64LittleEndian(s[8..])} bytes, not {diskSize}");
        var count = BinaryPrimitives.ReadInt64LittleEndian(s[40..]);
        if (count < 0 || HeaderBytes + count * EntryBytes + 8 != s.Length)
            throw new InvalidDataException($"checkpoint '{path}': {count} entries do not fit its {s.Length} bytes");
        var extents = new Extent[count];
        var p = HeaderBytes;
        for (var i = 0; i < count; i++, p += EntryBytes)
            extents[i] = new Extent(
                BinaryPrimitives.ReadInt64LittleEndian(s[p..]), BinaryPrimitives.ReadInt64LittleEndian(s[(p + 8)..]),
                BinaryPrimitives.ReadInt64LittleEndian(s[(p + 16)..]), (ExtentKind)s[p + 24],
                new RecordLocation(BinaryPrimitives.ReadInt64LittleEndian(s[(p + 25)..]), BinaryPrimitives.ReadInt64LittleEndian(s[(p + 33)..])),
                BinaryPrimitives.ReadInt32LittleEndian(s[(p + 41)..]));
        return new CheckpointFile(BinaryPrimitives.ReadInt64LittleEndian(s[16..]), BinaryPrimitives.ReadInt64LittleEndian(s[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(s[32..]), extents);
    }
}
