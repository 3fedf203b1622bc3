using System.Buffers.Binary;

namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>
/// What the chaos writer puts in a block: (disk block, generation, write id) repeated over the whole block, so a block read
/// back names the one write it holds, and a block torn between two writes, or holding anything else, names none.
/// </summary>
public readonly record struct Stamp(int Block, long Generation, long WriteId)
{
    public const int BlockSize = 4096;
    const int RecordSize = 32;
    static readonly ulong Magic = BinaryPrimitives.ReadUInt64BigEndian("SRCHAOS1"u8);

    public byte[] ToBlock()
    {
        var b = new byte[BlockSize];
        for (var at = 0; at < BlockSize; at += RecordSize)
        {
            var r = b.AsSpan(at, RecordSize);
            BinaryPrimitives.WriteUInt64BigEndian(r, Magic);
            BinaryPrimitives.WriteInt64BigEndian(r[8..], Block);
            BinaryPrimitives.WriteInt64BigEndian(r[16..], Generation);
            BinaryPrimitives.WriteInt64BigEndian(r[24..], WriteId);
        }
        return b;
    }

    /// <summary>The stamp <paramref name="block"/> holds whole, or null (never written by the harness, torn, or foreign bytes).</summary>
    public static Stamp? Read(ReadOnlySpan<byte> block)
    {
        if (block.Length != BlockSize || BinaryPrimitives.ReadUInt64BigEndian(block) != Magic) return null;
        var first = block[..RecordSize];
        for (var at = RecordSize; at < BlockSize; at += RecordSize)
            if (!block.Slice(at, RecordSize).SequenceEqual(first)) return null;
        return new Stamp((int)BinaryPrimitives.ReadInt64BigEndian(first[8..]), BinaryPrimitives.ReadInt64BigEndian(first[16..]),
            BinaryPrimitives.ReadInt64BigEndian(first[24..]));
    }
}
