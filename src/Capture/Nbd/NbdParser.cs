using System.Buffers.Binary;
using System.Text;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Pure parsers for the byte structures a client sends. They never throw: every input either parses
/// or is rejected with a <see cref="NbdParseError"/>.
/// </summary>
public static class NbdParser
{
    /// <summary>Longest export name accepted (the protocol's limit).</summary>
    public const int MaxNameLength = 4096;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses exactly one 28-byte request header.</summary>
    public static NbdParseError TryParseRequest(ReadOnlySpan<byte> bytes, out NbdRequest request)
    {
        request = default;
        if (bytes.Length < NbdRequest.HeaderLength) return NbdParseError.Truncated;
        if (bytes.Length > NbdRequest.HeaderLength) return NbdParseError.TrailingBytes;
        if (BinaryPrimitives.ReadUInt32BigEndian(bytes) != NbdMagic.Request) return NbdParseError.BadRequestMagic;
        request = new NbdRequest(
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]),
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(bytes[24..]));
        return NbdParseError.None;
    }

    /// <summary>Parses exactly one 16-byte option header; data longer than <paramref name="maxLength"/> is rejected.</summary>
    public static NbdParseError TryParseOptionHeader(ReadOnlySpan<byte> bytes, uint maxLength, out NbdOptionHeader header)
    {
        header = default;
        if (bytes.Length < NbdOptionHeader.HeaderLength) return NbdParseError.Truncated;
        if (bytes.Length > NbdOptionHeader.HeaderLength) return NbdParseError.TrailingBytes;
        if (BinaryPrimitives.ReadUInt64BigEndian(bytes) != NbdMagic.Option) return NbdParseError.BadOptionMagic;
        var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(bytes[8..]);
        var length = BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]);
        if (length > maxLength) return NbdParseError.OptionTooLong;
        header = new NbdOptionHeader(option, length);
        return NbdParseError.None;
    }

    /// <summary>Parses the client's 4-byte flags; rejects bits the server did not advertise.</summary>
    /// <remarks>A client without FIXED_NEWSTYLE is an older newstyle client, not a broken one: it is served, as fixed newstyle.</remarks>
    public static NbdParseError TryParseClientFlags(ReadOnlySpan<byte> bytes, out NbdHandshakeFlags flags)
    {
        flags = NbdHandshakeFlags.None;
        if (bytes.Length < 4) return NbdParseError.Truncated;
        if (bytes.Length > 4) return NbdParseError.TrailingBytes;
        var raw = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        const uint known = (uint)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        if ((raw & ~known) != 0) return NbdParseError.UnknownClientFlags;
        flags = (NbdHandshakeFlags)raw;
        return NbdParseError.None;
    }

    /// <summary>Parses the data of NBD_OPT_EXPORT_NAME (the whole data is the name).</summary>
    public static NbdParseError TryParseExportName(ReadOnlySpan<byte> data, out string name)
    {
        name = "";
        if (data.Length > MaxNameLength) return NbdParseError.NameTooLong;
        return TryDecode(data, out name) ? NbdParseError.None : NbdParseError.NameNotUtf8;
    }

    /// <summary>Parses the data of NBD_OPT_INFO / NBD_OPT_GO.</summary>
    public static NbdParseError TryParseInfoRequest(ReadOnlySpan<byte> data, out NbdInfoRequest? request)
    {
        request = null;
        if (data.Length < 4) return NbdParseError.Truncated;
        var nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > MaxNameLength) return NbdParseError.NameTooLong;
        var rest = data[4..];
        if (nameLength > rest.Length) return NbdParseError.NameLengthOverrun;
        if (!TryDecode(rest[..(int)nameLength], out var name)) return NbdParseError.NameNotUtf8;
        rest = rest[(int)nameLength..];
        if (rest.Length < 2) return NbdParseError.Truncated;
        int count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        rest = rest[2..];
        if (rest.Length != count * 2) return NbdParseError.InfoCountMismatch;
        var types = new NbdInfoType[count];
        for (var i = 0; i < count; i++)
            types[i] = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(rest[(i * 2)..]);
        request = new NbdInfoRequest(name, types);
        return NbdParseError.None;
    }

    private static bool TryDecode(ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }
}
