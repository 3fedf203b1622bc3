using System.Buffers.Binary;
using System.Text;

namespace SiteRecovery.Capture.Nbd;

/// <summary>Writers for NBD wire structures (used by the server, and by clients and tests).</summary>
public static class NbdEncoder
{
    /// <summary>Size of a simple reply header.</summary>
    public const int SimpleReplyLength = 16;

    /// <summary>Size of an option reply header.</summary>
    public const int OptionReplyHeaderLength = 20;

    /// <summary>Writes a 28-byte request header.</summary>
    public static void WriteRequest(Span<byte> dest, in NbdRequest request)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dest, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(dest[4..], (ushort)request.Flags);
        BinaryPrimitives.WriteUInt16BigEndian(dest[6..], (ushort)request.Command);
        BinaryPrimitives.WriteUInt64BigEndian(dest[8..], request.Cookie);
        BinaryPrimitives.WriteUInt64BigEndian(dest[16..], request.Offset);
        BinaryPrimitives.WriteUInt32BigEndian(dest[24..], request.Length);
    }

    /// <summary>Writes a 16-byte option header.</summary>
    public static void WriteOptionHeader(Span<byte> dest, in NbdOptionHeader header)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dest, NbdMagic.Option);
        BinaryPrimitives.WriteUInt32BigEndian(dest[8..], (uint)header.Option);
        BinaryPrimitives.WriteUInt32BigEndian(dest[12..], header.Length);
    }

    /// <summary>Encodes NBD_OPT_INFO / NBD_OPT_GO data.</summary>
    public static byte[] EncodeInfoRequest(NbdInfoRequest request)
    {
        var name = Encoding.UTF8.GetBytes(request.Name);
        var data = new byte[4 + name.Length + 2 + 2 * request.InfoTypes.Count];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        var p = 4 + name.Length;
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(p), (ushort)request.InfoTypes.Count);
        p += 2;
        foreach (var t in request.InfoTypes)
        {
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(p), (ushort)t);
            p += 2;
        }
        return data;
    }

    /// <summary>Writes a 16-byte simple reply header.</summary>
    public static void WriteSimpleReply(Span<byte> dest, NbdError error, ulong cookie)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dest, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(dest[4..], (uint)error);
        BinaryPrimitives.WriteUInt64BigEndian(dest[8..], cookie);
    }

    /// <summary>Writes a 20-byte option reply header.</summary>
    public static void WriteOptionReplyHeader(Span<byte> dest, NbdOption option, NbdReplyType type, uint length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dest, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(dest[8..], (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(dest[12..], (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(dest[16..], length);
    }
}
