using System.Buffers.Binary;
using System.Text;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// The handshake: option haggling until the client has chosen an export and knows its size and flags. Apart from
/// transmission because its rules are its own: options are answered (or skipped) one at a time with option replies, it
/// runs under the handshake timeout, and nothing in it touches an export's data.
/// </summary>
internal sealed partial class NbdConnection
{
    private async Task<INbdExport?> HandshakeAsync(CancellationToken ct)
    {
        var greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.Init);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdMagic.Option);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), (ushort)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
        await _stream.WriteAsync(greeting, ct).ConfigureAwait(false);

        var clientFlags = new byte[4];
        await _in.ReadExactlyAsync(clientFlags, ct).ConfigureAwait(false);
        var flagError = NbdParser.TryParseClientFlags(clientFlags, out var flags);
        if (flagError != NbdParseError.None)
        {
            Log($"rejecting client flags 0x{BinaryPrimitives.ReadUInt32BigEndian(clientFlags):x}: {flagError}");
            return null;
        }
        _noZeroes = flags.HasFlag(NbdHandshakeFlags.NoZeroes);
        if (_options.Tls is not null && !flags.HasFlag(NbdHandshakeFlags.FixedNewstyle))
        {
            Log("TLS is required but the client did not answer with fixed newstyle, so it cannot start TLS; disconnecting");
            return null;
        }

        var optionHeader = new byte[NbdOptionHeader.HeaderLength];
        while (true)
        {
            await _in.ReadExactlyAsync(optionHeader, ct).ConfigureAwait(false);
            // The server may hang up during haggling only on a denial of service; option data up to the portable
            // payload size is not one, so anything longer than we buffer is skipped and answered instead.
            var err = NbdParser.TryParseOptionHeader(optionHeader, NbdBlockSizes.PortableMaximum, out var header);
            if (err != NbdParseError.None)
            {
                Log($"bad option header: {err}; disconnecting");
                return null;
            }
            var skipped = header.Length > (uint)_options.MaxOptionLength;
            byte[] data;
            if (skipped)
            {
                if (header.Option == NbdOption.ExportName)
                {
                    Log($"NBD_OPT_EXPORT_NAME with {header.Length} bytes of data; disconnecting");
                    return null;
                }
                await DiscardAsync(header.Length, ct).ConfigureAwait(false);
                if (header.Option is NbdOption.Info or NbdOption.Go && !TlsPending)
                {
                    await ErrorAsync(header.Option, NbdReplyType.ErrTooBig,
                        $"option data of {header.Length} bytes exceeds the limit of {_options.MaxOptionLength}", ct).ConfigureAwait(false);
                    continue;
                }
                data = [];
            }
            else
            {
                data = new byte[header.Length];
                await _in.ReadExactlyAsync(data, ct).ConfigureAwait(false);
            }

            if (_draining.IsCancellationRequested && header.Option != NbdOption.Abort)
            {
                // EXPORT_NAME cannot be answered with an error; anything else is told the server is going away.
                if (header.Option == NbdOption.ExportName) { Log("NBD_OPT_EXPORT_NAME while shutting down; disconnecting"); return null; }
                await ErrorAsync(header.Option, NbdReplyType.ErrShutdown, "the server is shutting down", ct).ConfigureAwait(false);
                continue;
            }

            if (TlsPending && header.Option is not (NbdOption.StartTls or NbdOption.Abort))
            {
                if (header.Option == NbdOption.ExportName) { Log("NBD_OPT_EXPORT_NAME before TLS; disconnecting"); return null; }
                await ErrorAsync(header.Option, NbdReplyType.ErrTlsRequired, "TLS is required: send NBD_OPT_STARTTLS first", ct).ConfigureAwait(false);
                continue;
            }

            switch (header.Option)
            {
                case NbdOption.StartTls:
                    if (await StartTlsAsync(header.Length, ct).ConfigureAwait(false) == TlsStep.Failed) return null;
                    break;
                case NbdOption.ExportName:
                {
                    if (NbdParser.TryParseExportName(data, out var name) != NbdParseError.None || Resolve(name) is not { } export)
                    {
                        Log("NBD_OPT_EXPORT_NAME for an unknown export; disconnecting");
                        return null;
                    }
                    var reply = new byte[_noZeroes ? 10 : 134];
                    BinaryPrimitives.WriteInt64BigEndian(reply, export.Size);
                    BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), (ushort)FlagsFor(export));
                    await _stream.WriteAsync(reply, ct).ConfigureAwait(false);
                    return export;
                }
                case NbdOption.Abort:
                    await ReplyAsync(header.Option, NbdReplyType.Ack, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
                    return null;
                case NbdOption.List:
                    if (data.Length != 0 || skipped)
                    {
                        await ErrorAsync(header.Option, NbdReplyType.ErrInvalid, "NBD_OPT_LIST takes no data", ct).ConfigureAwait(false);
                        break;
                    }
                    foreach (var listed in _list())
                    {
                        var nameBytes = Encoding.UTF8.GetBytes(listed);
                        var payload = new byte[4 + nameBytes.Length];
                        BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)nameBytes.Length);
                        nameBytes.CopyTo(payload, 4);
                        await ReplyAsync(header.Option, NbdReplyType.Server, payload, ct).ConfigureAwait(false);
                    }
                    await ReplyAsync(header.Option, NbdReplyType.Ack, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
                    break;
                case NbdOption.Info:
                case NbdOption.Go:
                {
                    var export = await InfoAsync(header.Option, data, ct).ConfigureAwait(false);
                    if (export is not null && header.Option == NbdOption.Go) return export;
                    break;
                }
                default:
                    await ErrorAsync(header.Option, NbdReplyType.ErrUnsupported, $"option {(uint)header.Option} is not supported", ct).ConfigureAwait(false);
                    break;
            }
        }
    }

    private async Task<INbdExport?> InfoAsync(NbdOption option, byte[] data, CancellationToken ct)
    {
        var err = NbdParser.TryParseInfoRequest(data, out var request);
        if (err != NbdParseError.None || request is null)
        {
            await ErrorAsync(option, NbdReplyType.ErrInvalid, $"malformed request: {err}", ct).ConfigureAwait(false);
            return null;
        }
        var export = Resolve(request.Name);
        if (export is null)
        {
            await ErrorAsync(option, NbdReplyType.ErrUnknown, $"unknown export '{request.Name}'", ct).ConfigureAwait(false);
            return null;
        }

        var info = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)NbdInfoType.Export);
        BinaryPrimitives.WriteInt64BigEndian(info.AsSpan(2), export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), (ushort)FlagsFor(export));
        await ReplyAsync(option, NbdReplyType.Info, info, ct).ConfigureAwait(false);

        if (request.InfoTypes.Contains(NbdInfoType.Name))
        {
            var name = Encoding.UTF8.GetBytes(export.Name);
            var payload = new byte[2 + name.Length];
            BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)NbdInfoType.Name);
            name.CopyTo(payload, 2);
            await ReplyAsync(option, NbdReplyType.Info, payload, ct).ConfigureAwait(false);
        }

        var sizes = NbdBlockSizes.For(_options.MaxRequest);
        var block = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(block, (ushort)NbdInfoType.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(2), sizes.Minimum);
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(6), sizes.Preferred);
        BinaryPrimitives.WriteUInt32BigEndian(block.AsSpan(10), sizes.Maximum);
        await ReplyAsync(option, NbdReplyType.Info, block, ct).ConfigureAwait(false);

        await ReplyAsync(option, NbdReplyType.Ack, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        return export;
    }

    private INbdExport? Resolve(string name)
    {
        if (name.Length == 0)
        {
            if (_options.DefaultExportName is not { } def) return null;
            name = def;
        }
        try
        {
            return _resolve(name);
        }
        catch (Exception ex)
        {
            Log($"export resolver failed for '{name}': {ex.Message}");
            return null;
        }
    }

    internal static NbdTransmissionFlags FlagsFor(INbdExport export)
    {
        // CAN_MULTI_CONN rests on the INbdExport contract: connections may call an export concurrently, every read sees
        // every completed write whatever connection made it, and a flush covers them all.
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
                    | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.CanMultiConn;
        if (export.ReadOnly) flags |= NbdTransmissionFlags.ReadOnly;
        return flags;
    }

    private Task ErrorAsync(NbdOption option, NbdReplyType type, string message, CancellationToken ct)
    {
        Log($"option {option}: {type}: {message}");
        return ReplyAsync(option, type, ProtocolString(message), ct);
    }

    /// <summary>
    /// Error texts are protocol strings (UTF-8, no NUL, at most 4096 bytes), but they quote names the client chose,
    /// which may be that long already or carry a NUL.
    /// </summary>
    private static byte[] ProtocolString(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Replace('\0', '?'));
        if (bytes.Length <= NbdParser.MaxNameLength) return bytes;
        var end = NbdParser.MaxNameLength;
        while (end > 0 && (bytes[end] & 0xC0) == 0x80) end--; // do not cut a character in two
        return bytes[..end];
    }

    private async Task ReplyAsync(NbdOption option, NbdReplyType type, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        var buffer = new byte[NbdEncoder.OptionReplyHeaderLength + payload.Length];
        NbdEncoder.WriteOptionReplyHeader(buffer, option, type, (uint)payload.Length);
        payload.Span.CopyTo(buffer.AsSpan(NbdEncoder.OptionReplyHeaderLength));
        await _stream.WriteAsync(buffer, ct).ConfigureAwait(false);
    }
}
