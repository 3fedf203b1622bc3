using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// The accepting side of a data-path role (a process server for agents, a master target for process servers): one
/// listening socket, and a loop that hands every accepted connection to its session on a task of its own.
/// </summary>
/// <remarks>
/// TLS (<see cref="HopListenerTls"/>) is decided here, once for every role: the first byte a client sends tells a TLS
/// handshake from a plain hello. Within <see cref="SessionHandshake.HelloTimeout"/> of the accept, a TLS client must
/// present a certificate of the site's authority for the one kind of component the listener serves, and pass the
/// listener's further check; a plain client is served only when TLS is not required. A refused connection gets a
/// <see cref="Refused"/> naming why (in the clear to a plain client, inside TLS to a certified one) and is logged as a
/// security event; nothing of the role is touched. The session then gets the authenticated stream and the peer.
/// </remarks>
public sealed class SessionListener : IDisposable
{
    /// <summary>
    /// Connections a listener serves at once unless its role says otherwise. Each agent holds two (data and control) and
    /// each process server one per disk plus its control link, so real sites stay far below it; it is there so that
    /// connections which never say hello (each held up to <see cref="SessionHandshake.HelloTimeout"/>) cannot take the
    /// node's sockets and memory.
    /// </summary>
    public const int DefaultMaxConnections = 1024;

    readonly Socket _socket;
    readonly string _role;
    readonly int _maxConnections;
    readonly HopListenerTls? _tls;
    int _open;
    readonly System.Collections.Concurrent.ConcurrentDictionary<HopConnection, HopPeer> _live = new();
    long _refusedInBurst;

    /// <summary>Binds and listens at once, so a port already taken fails the start with <see cref="IOException"/> naming it.</summary>
    /// <param name="maxConnections">Connections served at once; one more is closed as soon as it is accepted.</param>
    /// <param name="tls">TLS of this listener; null: plain only (a test's listener).</param>
    public SessionListener(string role, IPEndPoint listen, int maxConnections = DefaultMaxConnections, HopListenerTls? tls = null)
        : this(role, (EndPoint)listen, maxConnections, tls)
    {
    }

    SessionListener(string role, EndPoint listen, int maxConnections, HopListenerTls? tls)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        if (tls is { Mode: HopTlsMode.Required } && tls.Own is not { HasCertificate: true })
            throw new IOException($"{role}: TLS is required (siterecovery.data-path.tls) but the {role} holds no certificate in '{tls.Own}': register it with the site's configuration server (srnode --register-with), or, while the site's components are not all registered, let it serve plain ones too (siterecovery.data-path.tls ... = optional)");
        _role = role;
        _maxConnections = maxConnections;
        _tls = tls;
        _socket = HopConnector.NewSocket(listen);
        if (listen is UnixDomainSocketEndPoint local) _path = local.ToString();
        else _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            // A socket file left by a process that died is in the way of the bind; nothing else listens on it.
            if (_path is not null && File.Exists(_path)) File.Delete(_path);
            _socket.Bind(listen);
            if (_path is not null && !OperatingSystem.IsWindows()) File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        catch (SocketException e)
        {
            _socket.Dispose();
            throw new IOException($"{role}: cannot listen on {listen}: {e.Message}", e);
        }
        _socket.Listen(64);
    }

    /// <summary>
    /// A listener for this node's own components on a Unix socket at <paramref name="path"/> (a process server forwarding
    /// to the master target beside it): plain, with no TLS. The kernel is the authentication: the socket file is the node
    /// user's alone (0600, in the node's private data folder), so only a process running as that user can connect, and
    /// such a process can read the replicas and keys anyway. TLS between two ends of one process would prove nothing and
    /// cost a core-second per GiB at each end.
    /// </summary>
    public static SessionListener ForLocalComponents(string role, string path, int maxConnections = DefaultMaxConnections) =>
        new(role, new UnixDomainSocketEndPoint(path), maxConnections, tls: null);

    /// <summary>A Unix socket path fits in the kernel's address (108 bytes with its terminator); a longer one cannot be bound.</summary>
    public static bool FitsLocalSocket(string path) => System.Text.Encoding.UTF8.GetByteCount(path) < 108;

    readonly string? _path;

    /// <summary>Connections being served now (accepted and not yet ended).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    public IPEndPoint? BoundEndpoint => _socket.LocalEndPoint as IPEndPoint;

    /// <summary>
    /// Accepts until <paramref name="ct"/>; each connection that passes the TLS rules runs <paramref name="serve"/>, which
    /// owns it from then on.
    /// </summary>
    public async Task AcceptAsync(Func<HopConnection, CancellationToken, Task> serve, Action<string> log, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket s;
            try { s = await _socket.AcceptAsync(ct).ConfigureAwait(false); }
            catch (Exception) when (ct.IsCancellationRequested) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) { log($"{_role}: accept failed: {e.Message}"); continue; }
            if (Volatile.Read(ref _open) >= _maxConnections)
            {
                // Closed before anything is read from it; logged once per burst, so a flood does not flood the log too.
                if (_refusedInBurst++ == 0) log($"{_role}: refusing connections: {_maxConnections} are open, the most this listener serves at once");
                s.Dispose();
                continue;
            }
            if (_refusedInBurst > 0)
            {
                log($"{_role}: accepting connections again; {_refusedInBurst} refused while {_maxConnections} were open");
                _refusedInBurst = 0;
            }
            if (_path is null) s.NoDelay = true;
            Interlocked.Increment(ref _open);
            _ = Task.Run(async () =>
            {
                HopConnection? served = null;
                try
                {
                    if (await OpenAsync(s, log, ct).ConfigureAwait(false) is { } hop)
                    {
                        served = hop;
                        if (hop.Peer is { } peer) _live[hop] = peer;
                        await serve(hop, ct).ConfigureAwait(false);
                    }
                    else s.Dispose();
                }
                finally
                {
                    if (served is not null) _live.TryRemove(served, out _);
                    Interlocked.Decrement(ref _open);
                }
            }, CancellationToken.None);
        }
    }

    /// <summary>The connection to serve, or null when it was refused (logged) or closed before saying anything.</summary>
    async Task<HopConnection?> OpenAsync(Socket s, Action<string> log, CancellationToken ct)
    {
        var remote = s.RemoteEndPoint?.ToString() ?? "?";
        void Security(string m) => log($"security: {_role} {m}");
        var deadline = DateTime.UtcNow + SessionHandshake.HelloTimeout;
        using var silent = CancellationTokenSource.CreateLinkedTokenSource(ct);
        silent.CancelAfter(SessionHandshake.HelloTimeout);
        try
        {
            var first = new byte[1];
            if (await s.ReceiveAsync(first, SocketFlags.Peek, silent.Token).ConfigureAwait(false) == 0) return null;
            var net = new NetworkStream(s, ownsSocket: false);
            var mode = _tls?.Mode ?? HopTlsMode.Off;
            if (first[0] != HopTls.HandshakeRecord)
            {
                if (mode != HopTlsMode.Required) return new HopConnection(s, net, null, helloDeadline: deadline, security: Security);
                var how = _tls!.Serves == ComponentKind.Agent ? "register the agent with sragent register" : "register the node with srnode --register-with";
                await RefuseAsync(net, $"{_role} requires TLS: {how}, so that it holds a certificate of the site ({HopRefusal.TlsRequired})", silent.Token).ConfigureAwait(false);
                Security($"refused a plain connection from {remote}: TLS is required ({HopRefusal.TlsRequired})");
                return null;
            }
            if (mode == HopTlsMode.Off || _tls!.Own is not { HasCertificate: true } credentials)
            {
                Security($"refused a TLS connection from {remote}: {(mode == HopTlsMode.Off ? "siterecovery.data-path.tls is off for this listener" : "it holds no certificate of its own")} ({HopRefusal.TlsNotOffered})");
                return null;
            }
            HopCertificate own;
            try { own = credentials.Load(); }
            catch (InvalidDataException e)
            {
                log($"{_role}: cannot serve TLS to {remote}: {e.Message}");
                return null;
            }
            System.Net.Security.SslStream ssl;
            HopPeer peer;
            var transport = new TlsTransport(net);
            using (own)
            {
                try { (ssl, peer) = await HopTls.AcceptAsync(transport, own, silent.Token).ConfigureAwait(false); }
                catch (HopRefusedException e)
                {
                    Security($"refused a TLS connection from {remote}: {e.Message}");
                    return null;
                }
            }
            var refusal = peer.Kind != _tls.Serves ? $"the {_role} serves only {HopPeer.KindName(_tls.Serves)}s on this listener; the certificate is for {peer} ({HopRefusal.WrongRole})"
                : _tls.Check?.Invoke(peer) is { } reason ? $"{reason} ({HopRefusal.Refused})"
                : null;
            if (refusal is null)
            {
                // Who got in, and how: one line per certified session (operators and the bench read which hops run TLS).
                log($"{_role}: TLS session with {peer} from {remote} ({ssl.NegotiatedCipherSuite})");
                return new HopConnection(s, ssl, peer, transport, deadline, Security);
            }
            await RefuseAsync(ssl, refusal, silent.Token).ConfigureAwait(false);
            await ssl.DisposeAsync().ConfigureAwait(false);
            Security($"refused {peer} from {remote}: {refusal}");
            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            log($"{_role}: connection from {remote} dropped: no hello within {SessionHandshake.HelloTimeout.TotalSeconds:0.#} s of connecting");
            return null;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException)
        {
            if (!ct.IsCancellationRequested) log($"{_role}: connection from {remote} ended before its hello: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// Reads the client's hello (bounded to a control frame) and answers <see cref="Refused"/>: read first, so that the
    /// close that follows does not reset the connection before the client has read why.
    /// </summary>
    static async Task RefuseAsync(Stream stream, string reason, CancellationToken ct)
    {
        try { await FrameIo.ReadAsync(stream, ct, FrameHeader.MaxControlFrame).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or InvalidDataException) { }
        await FrameIo.WriteAsync(stream, FrameType.Control, new Refused(reason).ToBytes(), ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends every live session whose peer <paramref name="which"/> names (a certificate revoked since it connected): its
    /// socket is shut down, so the session ends as at a dropped connection and the peer's next connection meets the
    /// listener's check. Each is logged as a security event; returns the peers closed.
    /// </summary>
    public IReadOnlyList<HopPeer> Close(Func<HopPeer, bool> which, string why, Action<string> log)
    {
        var closed = new List<HopPeer>();
        foreach (var (hop, peer) in _live)
        {
            if (!which(peer)) continue;
            try { hop.Socket.Shutdown(SocketShutdown.Both); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            closed.Add(peer);
            log($"security: {_role} closed the session of {peer} from {hop.Remote}: {why}");
        }
        return closed;
    }

    public void Dispose()
    {
        _socket.Dispose();
        if (_path is not null)
            try { File.Delete(_path); }
            catch (IOException) { }
    }
}
