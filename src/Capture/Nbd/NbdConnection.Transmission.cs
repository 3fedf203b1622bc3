using System.Buffers;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Transmission: the chosen export's requests, one at a time, each answered by a simple reply in request order. Apart
/// from the handshake because it is the path every NBD read and write takes, with rules of its own: payloads, the drain
/// at shutdown, and export failures turned into NBD errors.
/// </summary>
internal sealed partial class NbdConnection
{
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

    private async Task SimpleReplyAsync(NbdError error, ulong cookie, CancellationToken ct)
    {
        NbdEncoder.WriteSimpleReply(_reply, error, cookie);
        await _stream.WriteAsync(_reply, ct).ConfigureAwait(false);
    }
}
