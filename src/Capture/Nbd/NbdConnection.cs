using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Serves one client: fixed newstyle handshake, then transmission. Requests are processed strictly in
/// the order they arrive (pipelined requests simply wait in the socket buffer), so the export sees one
/// request at a time and replies are written by a single writer in request order.
/// </summary>
internal sealed class NbdConnection
{
    private const int DiscardChunk = 64 * 1024;

    private readonly Stream _stream;
    private readonly Func<string, INbdExport?> _resolve;
    private readonly Func<IEnumerable<string>> _list;
    private readonly NbdServerOptions _options;
    private readonly string _peer;
    private readonly byte[] _header = new byte[NbdRequest.HeaderLength];
    private readonly byte[] _reply = new byte[NbdEncoder.SimpleReplyLength];
    private bool _noZeroes;

    // Reads go through a buffer so a request header and its payload usually arrive in one syscall;
    // writes go straight to the stream (replies must leave at once). Each wrapper is used in one
    // direction only, which is what a BufferedStream over a non-seekable stream needs.
    private readonly BufferedStream _in;

    // Set when the server begins to shut down: what runs finishes, anything new is refused with the shutdown error.
    private readonly CancellationToken _draining;

    public NbdConnection(Stream stream, Func<string, INbdExport?> resolve, Func<IEnumerable<string>> list, NbdServerOptions options, string peer,
        CancellationToken draining = default)
    {
        _draining = draining;
        _stream = stream;
        _in = new BufferedStream(stream, 256 * 1024);
        _resolve = resolve;
        _list = list;
        _options = options;
        _peer = peer;
    }

    string? _exportName;

    /// <summary>The export this client uses, once the handshake chose one (null before, and for a session that never chose).</summary>
    public string? ExportName => Volatile.Read(ref _exportName);

    /// <summary>Runs the session to completion. Never throws: every failure ends the session and is logged.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            INbdExport? export;
            using (var handshakeCts = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (_options.HandshakeTimeout != Timeout.InfiniteTimeSpan) handshakeCts.CancelAfter(_options.HandshakeTimeout);
                try
                {
                    export = await HandshakeAsync(handshakeCts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Log("handshake timed out");
                    return;
                }
            }
            if (export is null) return;
            Volatile.Write(ref _exportName, export.Name);
            await TransmitAsync(export, ct).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            Log("client closed the connection in the middle of a message");
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            Log($"connection error: {ex.Message}");
        }
        catch (Exception ex)
        {
            Log($"unexpected error, closing connection: {ex}");
        }
    }

    // ---------------------------------------------------------------- handshake

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
                if (header.Option is NbdOption.Info or NbdOption.Go)
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

            switch (header.Option)
            {
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

    // ---------------------------------------------------------------- transmission

    private async Task TransmitAsync(INbdExport export, CancellationToken ct)
    {
        var size = export.Size;
        while (true)
        {
            if (!await ReadHeaderOrEofAsync(ct).ConfigureAwait(false))
            {
                Log("client closed the connection without NBD_CMD_DISC");
                return;
            }
            var parseError = NbdParser.TryParseRequest(_header, out var request);
            if (parseError != NbdParseError.None)
            {
                Log($"bad request header ({parseError}); disconnecting");
                return;
            }

            if (_draining.IsCancellationRequested && request.Command != NbdCommand.Disconnect)
            {
                // proto.md: once shutting down, the server refuses new requests with NBD_ESHUTDOWN and waits for the
                // client's NBD_CMD_DISC (the server closes the connection anyway when its grace period ends).
                if (request.Command == NbdCommand.Write)
                {
                    if (!NbdRequestValidator.CanDiscardPayload(request.Length)) { Log("oversized write while shutting down; disconnecting"); return; }
                    await DiscardAsync(request.Length, ct).ConfigureAwait(false);
                }
                await SimpleReplyAsync(NbdError.Shutdown, request.Cookie, ct).ConfigureAwait(false);
                continue;
            }

            // Read per request: an export may turn read-only while clients are connected (a planned failover stops the
            // source's writes). The export checks again under its own lock; this only spares it the payload.
            var check = NbdRequestValidator.Validate(request, size, export.ReadOnly, _options.MaxRequest);
            if (!check.IsOk)
            {
                Log($"{request.Command} offset={request.Offset} length={request.Length}: {check.Error}: {check.Reason}");
                if (check.ConsumePayload) await DiscardAsync(request.Length, ct).ConfigureAwait(false);
                await SimpleReplyAsync(check.Error, request.Cookie, ct).ConfigureAwait(false);
                if (check.Disconnect) return;
                continue;
            }

            switch (request.Command)
            {
                case NbdCommand.Disconnect:
                    return;
                case NbdCommand.Read:
                    await ReadAsync(export, request, ct).ConfigureAwait(false);
                    break;
                case NbdCommand.Write:
                    await WriteAsync(export, request, ct).ConfigureAwait(false);
                    break;
                default:
                {
                    var error = await GuardAsync(request, () => ExecuteNoPayloadAsync(export, request, ct), ct).ConfigureAwait(false);
                    await SimpleReplyAsync(error, request.Cookie, ct).ConfigureAwait(false);
                    break;
                }
            }
        }
    }

    private async Task ReadAsync(INbdExport export, NbdRequest request, CancellationToken ct)
    {
        var length = (int)request.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            var error = length == 0
                ? NbdError.None
                : await GuardAsync(request, () => export.ReadAsync((long)request.Offset, buffer.AsMemory(0, length), ct), ct).ConfigureAwait(false);
            await SimpleReplyAsync(error, request.Cookie, ct).ConfigureAwait(false);
            if (error == NbdError.None && length > 0)
                await _stream.WriteAsync(buffer.AsMemory(0, length), ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteAsync(INbdExport export, NbdRequest request, CancellationToken ct)
    {
        var length = (int)request.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            await _in.ReadExactlyAsync(buffer.AsMemory(0, length), ct).ConfigureAwait(false);
            var fua = request.Flags.HasFlag(NbdCommandFlags.Fua);
            var error = length == 0
                ? NbdError.None
                : await GuardAsync(request, () => export.WriteAsync((long)request.Offset, buffer.AsMemory(0, length), fua, ct), ct).ConfigureAwait(false);
            await SimpleReplyAsync(error, request.Cookie, ct).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask ExecuteNoPayloadAsync(INbdExport export, NbdRequest request, CancellationToken ct)
    {
        var fua = request.Flags.HasFlag(NbdCommandFlags.Fua);
        var offset = (long)request.Offset;
        long remaining = request.Length;
        switch (request.Command)
        {
            case NbdCommand.Flush:
                await export.FlushAsync(ct).ConfigureAwait(false);
                return;
            case NbdCommand.Trim:
            case NbdCommand.WriteZeroes:
                while (remaining > 0)
                {
                    var chunk = (int)Math.Min(remaining, 1 << 30);
                    if (request.Command == NbdCommand.Trim)
                        await export.TrimAsync(offset, chunk, ct).ConfigureAwait(false);
                    else
                        await export.WriteZeroesAsync(offset, chunk, fua, ct).ConfigureAwait(false);
                    offset += chunk;
                    remaining -= chunk;
                }
                // proto.md: with FUA the reply waits until what the command wrote is persisted. A trim may write (the
                // agent zeroes the range and replicates that), and INbdExport.TrimAsync takes no FUA, so flush here.
                if (fua && request.Command == NbdCommand.Trim) await export.FlushAsync(ct).ConfigureAwait(false);
                return;
            default:
                throw new InvalidOperationException($"command {request.Command} has no handler");
        }
    }

    /// <summary>Awaits an export call, turning any failure (other than shutdown) into NBD_EIO.</summary>
    private async ValueTask<NbdError> GuardAsync(NbdRequest request, ValueTask operation, CancellationToken ct)
    {
        try
        {
            await operation.ConfigureAwait(false);
            return NbdError.None;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (ExportReadOnlyException ex)
        {
            Log($"{request.Command} offset={request.Offset} length={request.Length}: {ex.Message}");
            return NbdError.Perm;
        }
        catch (Exception ex)
        {
            Log($"export failed on {request.Command} offset={request.Offset} length={request.Length}: {ex.GetType().Name}: {ex.Message}");
            return NbdError.Io;
        }
    }

    private async ValueTask<NbdError> GuardAsync(NbdRequest request, Func<ValueTask> start, CancellationToken ct)
    {
        ValueTask op;
        try
        {
            op = start();
        }
        catch (Exception ex)
        {
            op = ValueTask.FromException(ex);
        }
        return await GuardAsync(request, op, ct).ConfigureAwait(false);
    }

    private async ValueTask<bool> ReadHeaderOrEofAsync(CancellationToken ct)
    {
        var first = await _in.ReadAsync(_header, ct).ConfigureAwait(false);
        if (first == 0) return false;
        if (first < _header.Length)
            await _in.ReadExactlyAsync(_header.AsMemory(first), ct).ConfigureAwait(false);
        return true;
    }

    private async Task DiscardAsync(uint length, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(DiscardChunk);
        try
        {
            long remaining = length;
            while (remaining > 0)
            {
                var chunk = (int)Math.Min(remaining, DiscardChunk);
                await _in.ReadExactlyAsync(buffer.AsMemory(0, chunk), ct).ConfigureAwait(false);
                remaining -= chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task SimpleReplyAsync(NbdError error, ulong cookie, CancellationToken ct)
    {
        NbdEncoder.WriteSimpleReply(_reply, error, cookie);
        await _stream.WriteAsync(_reply, ct).ConfigureAwait(false);
    }

    private void Log(string message)
    {
        try
        {
            _options.Log?.Invoke($"nbd {_peer}: {message}");
        }
        catch
        {
            // a faulty log sink must never take a connection down
        }
    }
}
