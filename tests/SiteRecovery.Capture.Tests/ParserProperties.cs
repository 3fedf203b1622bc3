using System.Buffers.Binary;
using System.Text;
using FsCheck.Xunit;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Properties of the pure parsers and the request validator.</summary>
public class ParserProperties
{
    private static byte[] Encode(NbdRequest r)
    {
        var b = new byte[NbdRequest.HeaderLength];
        NbdEncoder.WriteRequest(b, r);
        return b;
    }

    [Property(MaxTest = 500)]
    public bool Request_round_trips(ushort flags, ushort command, ulong cookie, ulong offset, uint length)
    {
        var request = new NbdRequest((NbdCommandFlags)flags, (NbdCommand)command, cookie, offset, length);
        return NbdParser.TryParseRequest(Encode(request), out var parsed) == NbdParseError.None && parsed == request;
    }

    [Property(MaxTest = 500)]
    public bool Request_with_bad_magic_is_rejected(uint magic, ushort command, ulong offset, uint length)
    {
        if (magic == NbdMagic.Request) magic ^= 1;
        var b = Encode(new NbdRequest(0, (NbdCommand)command, 7, offset, length));
        BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        return NbdParser.TryParseRequest(b, out var r) == NbdParseError.BadRequestMagic && r == default;
    }

    [Property(MaxTest = 500)]
    public bool Truncated_or_overlong_request_is_rejected(byte cut, byte[] extra, ulong cookie)
    {
        var b = Encode(new NbdRequest(NbdCommandFlags.Fua, NbdCommand.Write, cookie, 0, 512));
        var truncated = b.AsSpan(0, cut % NbdRequest.HeaderLength);
        var longer = b.Concat(extra.Length == 0 ? [0] : extra).ToArray();
        return NbdParser.TryParseRequest(truncated, out _) == NbdParseError.Truncated
               && NbdParser.TryParseRequest(longer, out _) == NbdParseError.TrailingBytes;
    }

    [Property(MaxTest = 1000)]
    public bool Arbitrary_bytes_never_throw_and_success_means_exact_round_trip(byte[] bytes)
    {
        bytes ??= [];
        var e1 = NbdParser.TryParseRequest(bytes, out var r);
        var e2 = NbdParser.TryParseOptionHeader(bytes, 65536, out var h);
        var e3 = NbdParser.TryParseInfoRequest(bytes, out var info);
        var e4 = NbdParser.TryParseClientFlags(bytes, out _);
        var e5 = NbdParser.TryParseExportName(bytes, out _);
        var ok = true;
        if (e1 == NbdParseError.None) ok &= Encode(r).AsSpan().SequenceEqual(bytes);
        if (e2 == NbdParseError.None)
        {
            var b = new byte[16];
            NbdEncoder.WriteOptionHeader(b, h);
            ok &= b.AsSpan().SequenceEqual(bytes);
        }
        if (e3 == NbdParseError.None) ok &= info is not null && NbdEncoder.EncodeInfoRequest(info).AsSpan().SequenceEqual(bytes);
        else ok &= info is null;
        _ = e4; _ = e5;
        return ok;
    }

    [Property(MaxTest = 500)]
    public bool Option_header_round_trips_and_limit_is_enforced(uint option, uint length, uint limit)
    {
        var b = new byte[16];
        NbdEncoder.WriteOptionHeader(b, new NbdOptionHeader((NbdOption)option, length));
        var err = NbdParser.TryParseOptionHeader(b, limit, out var h);
        return length <= limit
            ? err == NbdParseError.None && h == new NbdOptionHeader((NbdOption)option, length)
            : err == NbdParseError.OptionTooLong;
    }

    [Property(MaxTest = 500)]
    public bool Option_header_with_bad_magic_is_rejected(ulong magic, uint option)
    {
        if (magic == NbdMagic.Option) magic ^= 1;
        var b = new byte[16];
        NbdEncoder.WriteOptionHeader(b, new NbdOptionHeader((NbdOption)option, 0));
        BinaryPrimitives.WriteUInt64BigEndian(b, magic);
        return NbdParser.TryParseOptionHeader(b, 100, out _) == NbdParseError.BadOptionMagic;
    }

    [Property(MaxTest = 500)]
    public bool Info_request_round_trips(string name, ushort[] types)
    {
        name ??= "";
        types ??= [];
        // Normalise to what UTF-8 can carry and to the protocol's name limit.
        var bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length > NbdParser.MaxNameLength) return true;
        var expected = Encoding.UTF8.GetString(bytes);
        var request = new NbdInfoRequest(expected, types.Select(t => (NbdInfoType)t).ToArray());
        var encoded = NbdEncoder.EncodeInfoRequest(request);
        return NbdParser.TryParseInfoRequest(encoded, out var parsed) == NbdParseError.None
               && parsed!.Name == expected && parsed.InfoTypes.SequenceEqual(request.InfoTypes);
    }

    [Property(MaxTest = 500)]
    public bool Info_request_with_wrong_counts_is_rejected(byte nameLength, ushort count, byte[] tail)
    {
        tail ??= [];
        var name = new string('a', nameLength);
        var good = NbdEncoder.EncodeInfoRequest(new NbdInfoRequest(name, []));
        // Claim a name longer than the data: overrun.
        var overrun = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(overrun, (uint)(good.Length - 4 + 1 + tail.Length % 7));
        var okOverrun = NbdParser.TryParseInfoRequest(overrun, out _) == NbdParseError.NameLengthOverrun;
        // Claim a count that does not match the remaining bytes.
        var mismatch = good.Concat(tail).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(mismatch.AsSpan(4 + nameLength), count);
        var expectMismatch = tail.Length != count * 2;
        var e = NbdParser.TryParseInfoRequest(mismatch, out _);
        var okMismatch = expectMismatch ? e == NbdParseError.InfoCountMismatch : e == NbdParseError.None;
        // Chop anything off the end of a well-formed request with at least one type.
        var withType = NbdEncoder.EncodeInfoRequest(new NbdInfoRequest(name, [NbdInfoType.BlockSize]));
        var cut = withType.AsSpan(0, withType.Length - 1 - tail.Length % (withType.Length - 1));
        var ec = NbdParser.TryParseInfoRequest(cut, out _);
        var okCut = ec is NbdParseError.Truncated or NbdParseError.NameLengthOverrun or NbdParseError.InfoCountMismatch;
        return okOverrun && okMismatch && okCut;
    }

    [Property(MaxTest = 300)]
    public bool Client_flags_reject_unknown_bits(uint flags)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, flags);
        var e = NbdParser.TryParseClientFlags(b, out var parsed);
        if ((flags & ~3u) != 0) return e == NbdParseError.UnknownClientFlags;
        return e == NbdParseError.None && (uint)parsed == flags;
    }

    [Property(MaxTest = 2000)]
    public bool Validator_only_accepts_in_range_known_requests(ushort flags, byte command, ulong offset, uint length, uint size, bool readOnly, bool small)
    {
        // Bias offsets/lengths towards the export size so the boundary is exercised.
        var exportSize = (long)size;
        if (small) { offset %= (ulong)exportSize + 2; length %= 4096 * 2; }
        var max = 4096;
        var r = new NbdRequest((NbdCommandFlags)(flags % 4 == 0 ? flags : flags & 3), (NbdCommand)(command % 10), 1, offset, length);
        var v = NbdRequestValidator.Validate(r, exportSize, readOnly, max);
        var inRange = offset <= (ulong)exportSize && offset + length <= (ulong)exportSize && offset + length >= offset;
        var knownFlags = (r.Flags & ~(r.Command == NbdCommand.WriteZeroes ? NbdCommandFlags.Fua | NbdCommandFlags.NoHole : NbdCommandFlags.Fua)) == 0;
        if (r.Command == NbdCommand.Disconnect) return v.IsOk;
        if (r.Command == NbdCommand.Write && length > max)
            return v.Error == NbdError.Inval && (length <= NbdBlockSizes.PortableMaximum ? v.ConsumePayload && !v.Disconnect : v.Disconnect);
        if (v.Disconnect) return false;
        if (!v.IsOk) return v.Reason.Length > 0 && (v.ConsumePayload == (r.Command == NbdCommand.Write));
        return knownFlags && r.Command switch
        {
            NbdCommand.Read => inRange && length <= max,
            NbdCommand.Write or NbdCommand.WriteZeroes or NbdCommand.Trim => inRange && !readOnly,
            NbdCommand.Flush => true,
            _ => false,
        };
    }

    [Property(MaxTest = 300)]
    public bool Validator_reports_the_spec_error_codes(uint size, bool readOnly)
    {
        var s = (long)size;
        var past = new NbdRequest(0, NbdCommand.Write, 1, (ulong)s, 1);
        var readPast = past with { Command = NbdCommand.Read };
        var huge = new NbdRequest(0, NbdCommand.Read, 1, 0, 5000);
        var unknown = new NbdRequest(0, (NbdCommand)42, 1, 0, 0);
        var writeRo = NbdRequestValidator.Validate(past with { Offset = 0, Length = 0 }, s, true, 4096);
        return NbdRequestValidator.Validate(past, s, false, 4096).Error == NbdError.NoSpc
               && NbdRequestValidator.Validate(readPast, s, readOnly, 4096).Error == NbdError.Inval
               && NbdRequestValidator.Validate(huge, s + 10000, readOnly, 4096).Error == NbdError.Inval
               && NbdRequestValidator.Validate(unknown, s, readOnly, 4096).Error == NbdError.Inval
               && writeRo.Error == NbdError.Perm && writeRo.ConsumePayload;
    }
}
