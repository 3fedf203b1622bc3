using System.Buffers.Binary;

namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// The 5-byte header in front of every frame (u32 body length, little endian; u8 <see cref="FrameType"/>), read in one
/// place for every reader. The bound is the reader's, not the wire's: a peer that has not yet said who it is, or a
/// control-only connection, gets a small one, so a header alone can never make a receiver allocate much.
/// </summary>
public readonly record struct FrameHeader(int Length, FrameType Type)
{
    public const int Size = 5;

    /// <summary>Frames of a session before its hello is answered, and of control-only connections: hellos and holds are small.</summary>
    public const int MaxControlFrame = 1 << 20;

    /// <summary>
    /// Reads a header; throws <see cref="InvalidDataException"/> naming the length outside <c>0..maxFrame</c>, an unknown
    /// type, or a type this connection does not carry (<paramref name="controlOnly"/>).
    /// </summary>
    public static FrameHeader Parse(ReadOnlySpan<byte> header, int maxFrame, bool controlOnly = false)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length < 0 || length > maxFrame) throw new InvalidDataException($"frame length {length} is outside 0..{maxFrame}");
        var type = (FrameType)header[4];
        if (type is not (FrameType.Delta or FrameType.Control)) throw new InvalidDataException($"frame type {header[4]} is unknown");
        if (controlOnly && type != FrameType.Control) throw new InvalidDataException($"frame type {header[4]} on a control-only connection");
        return new FrameHeader(length, type);
    }

    public static void Write(Span<byte> header, int length, FrameType type)
    {
        BinaryPrimitives.WriteInt32LittleEndian(header, length);
        header[4] = (byte)type;
    }
}
