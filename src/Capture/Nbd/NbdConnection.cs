using System.Buffers;
using System.Net.Sockets;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Serves one client: fixed newstyle handshake, then transmission. Requests are processed strictly in
/// the order they arrive (pipelined requests simply wait in the socket buffer), so the export sees one
/// request at a time and replies are written by a single writer in request order.
/// The two phases are in <c>NbdConnection.Handshake.cs</c> and <c>NbdConnection.Transmission.cs</c>; this file holds the
/// state they share and the session that runs one after the other.
/// </summary>
internal sealed partial class NbdConnection
{
    private const int DiscardChunk = 64 * 1024;
    private const int ReadBufferSize = 256 * 1024;
    private const int Unbuffered = 1;

    // Both are replaced once, by the TLS stream, when NBD_OPT_STARTTLS succeeds (NbdConnection.Tls.cs).
    private Stream _stream;
    private readonly Func<string, INbdExport?> _resolve;
    private readonly Func<IEnumerable<string>> _list;
    private readonly NbdServerOptions _options;
    private readonly string _peer;
    private readonly byte[] _header = new byte[NbdRequest.HeaderLength];
    private readonly byte[] _reply = new byte[NbdEncoder.SimpleReplyLength];
    private bool _noZeroes;

    // Reads go through a buffer so a request header and its payload usually arrive in one syscall (with TLS required,
    // only once TLS runs);
    // writes go straight to the stream (replies must leave at once). Each wrapper is used in one
    // direction only, which is what a BufferedStream over a non-seekable stream needs.
    private BufferedStream _in;

    // Set when the server begins to shut down: what runs finishes, anything new is refused with the shutdown error.
    private readonly CancellationToken _draining;

    public NbdConnection(Stream stream, Func<string, INbdExport?> resolve, Func<IEnumerable<string>> list, NbdServerOptions options, string peer,
        CancellationToken draining = default)
    {
        _draining = draining;
        _stream = stream;
        // Before TLS nothing may be read ahead: bytes after NBD_OPT_STARTTLS are the TLS handshake and belong to the TLS
        // layer, which reads the transport itself. A BufferedStream whose buffer is one byte reads straight through.
        _in = new BufferedStream(stream, options.Tls is null ? ReadBufferSize : Unbuffered);
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
        finally
        {
            // The transport below belongs to whoever handed it over; only the TLS layer on it is this session's.
            if (_tls is not null) await _tls.DisposeAsync().ConfigureAwait(false);
        }
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
