using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Connections;

/// <summary>
/// One data-path connection, either end: the socket, the stream every frame goes through (TLS or plain), and the peer
/// its certificate names (null on a plain connection). Disposing it closes both.
/// </summary>
public sealed class HopConnection : IDisposable, IAsyncDisposable
{
    readonly DateTime _helloDeadline;
    readonly Action<string>? _security;
    readonly TlsTransport? _transport;

    /// <param name="transport">Beneath a TLS <paramref name="stream"/>: the bytes it has read ahead count as arrived.</param>
    internal HopConnection(Socket socket, Stream stream, HopPeer? peer, TlsTransport? transport = null, DateTime helloDeadline = default, Action<string>? security = null)
    {
        Socket = socket;
        _transport = transport;
        Stream = stream;
        Peer = peer;
        Remote = socket.RemoteEndPoint?.ToString() ?? "?";
        _helloDeadline = helloDeadline;
        _security = security;
    }

    public Socket Socket { get; }
    public Stream Stream { get; }
    /// <summary>Who the other end is by its certificate; null on a plain connection.</summary>
    public HopPeer? Peer { get; }
    public string Remote { get; }

    /// <summary>
    /// Bytes have arrived that nobody read yet (on TLS: at least part of a record), in the socket or read ahead beneath
    /// SslStream (<see cref="TlsTransport"/>): a receiver that commits when idle must not take read-ahead bytes for silence.
    /// </summary>
    public bool DataAvailable => Socket.Available > 0 || _transport?.BufferedBytes > 0;

    /// <summary>On the accepting side: what is left of <see cref="SessionHandshake.HelloTimeout"/> after the TLS handshake.</summary>
    public TimeSpan HelloTimeLeft => _helloDeadline == default ? SessionHandshake.HelloTimeout : TimeSpan.FromTicks(Math.Max(1, (_helloDeadline - DateTime.UtcNow).Ticks));

    /// <summary>Logs a refusal of this connection as a security event (the accepting side; its listener names the role).</summary>
    public void ReportRefusal(string reason) => _security?.Invoke($"refused {Peer?.ToString() ?? "a plain connection"} from {Remote}: {reason}");

    public void Dispose()
    {
        try { Stream.Dispose(); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        Socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        try { await Stream.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        Socket.Dispose();
    }
}

/// <summary>
/// The connecting side of every hop (agent → process server, process server → master target, and their control
/// links): connect, then mutual TLS when the component holds a certificate (<paramref name="tls"/>'s credentials),
/// plain otherwise. A Unix socket endpoint is a component of this node (see
/// <see cref="SessionListener.ForLocalComponents"/>): plain, the file system being its authentication. Errors are
/// <see cref="IOException"/> or <see cref="SocketException"/> naming the peer, which the reconnect loops retry.
/// </summary>
public static class HopConnector
{
    /// <summary>A stream socket for <paramref name="endpoint"/>: TCP without Nagle's delay, or a Unix socket.</summary>
    internal static Socket NewSocket(EndPoint endpoint) => endpoint is UnixDomainSocketEndPoint
        ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
        : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    static bool Tls(EndPoint endpoint, HopClientTls? tls) => tls is { Own.HasCertificate: true } && endpoint is not UnixDomainSocketEndPoint;

    public static async Task<HopConnection> ConnectAsync(EndPoint endpoint, HopClientTls? tls, string peer, CancellationToken ct)
    {
        var socket = NewSocket(endpoint);
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            var net = new NetworkStream(socket, ownsSocket: false);
            if (!Tls(endpoint, tls)) return new HopConnection(socket, net, null);
            using var own = tls!.Own.Load();
            var transport = new TlsTransport(net);
            var (ssl, certified) = await HopTls.ConnectAsync(transport, own, tls.Expected, $"{peer} at {endpoint}", ct).ConfigureAwait(false);
            return new HopConnection(socket, ssl, certified, transport);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The blocking form, for the control links' own threads; <paramref name="stop"/> closes a blocked connect or handshake.</summary>
    public static HopConnection Connect(EndPoint endpoint, HopClientTls? tls, string peer, CancellationToken stop)
    {
        var socket = NewSocket(endpoint);
        using var closeOnStop = stop.Register(socket.Dispose);
        try
        {
            socket.Connect(endpoint);
            var net = new NetworkStream(socket, ownsSocket: false);
            if (!Tls(endpoint, tls)) return new HopConnection(socket, net, null);
            using var own = tls!.Own.Load();
            var transport = new TlsTransport(net);
            var (ssl, certified) = HopTls.Connect(transport, own, tls.Expected, $"{peer} at {endpoint}");
            return new HopConnection(socket, ssl, certified, transport);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
