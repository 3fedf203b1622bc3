using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// A Network Block Device server (fixed newstyle handshake, simple replies) serving a set of
/// <see cref="INbdExport"/>s over TCP or a Unix domain socket, in plain text or, with
/// <see cref="NbdServerOptions.Tls"/>, only over TLS with client certificates. One task serves each connection;
/// requests of a connection are executed in order.
/// </summary>
/// <example>
/// <code>
/// await using var export = FileExport.Open("/var/lib/disk0.img", "disk0");
/// await using var server = new NbdServer(new IPEndPoint(IPAddress.Loopback, 0),
///     new Dictionary&lt;string, INbdExport&gt; { [export.Name] = export });
/// await server.StartAsync();
/// Console.WriteLine(server.LocalEndPoint); // nbd://127.0.0.1:PORT/disk0
/// </code>
/// </example>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly EndPoint _endpoint;
    private readonly Func<string, INbdExport?> _resolve;
    private readonly Func<IEnumerable<string>> _list;
    private readonly NbdServerOptions _options;
    private readonly CancellationTokenSource _stopping = new();
    // Cancelled first when the server stops: no new connections, and connected clients are asked to wind down.
    private readonly CancellationTokenSource _draining = new();
    private readonly ConcurrentDictionary<long, (Socket Socket, Task Task)> _connections = new();
    // Every session being served (listener or ServeAsync), to count the clients of one export.
    private readonly ConcurrentDictionary<NbdConnection, byte> _sessions = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private long _nextConnectionId;
    private int _disposed;

    /// <summary>Creates a server for a fixed set of exports, keyed by export name.</summary>
    /// <param name="endpoint">An <see cref="IPEndPoint"/> (port 0 picks a free port) or a <see cref="UnixDomainSocketEndPoint"/>.</param>
    /// <param name="exports">Exports by the name clients ask for.</param>
    /// <param name="options">Tunables; null for defaults.</param>
    public NbdServer(EndPoint endpoint, IReadOnlyDictionary<string, INbdExport> exports, NbdServerOptions? options = null)
        : this(endpoint, name => exports.TryGetValue(name, out var e) ? e : null, () => exports.Keys.ToArray(), options)
    {
        ArgumentNullException.ThrowIfNull(exports);
    }

    /// <summary>Creates a server whose exports are looked up on demand.</summary>
    /// <param name="endpoint">An <see cref="IPEndPoint"/> (port 0 picks a free port) or a <see cref="UnixDomainSocketEndPoint"/>.</param>
    /// <param name="resolve">Returns the export for a name, or null when there is none. Called once per NBD_OPT_INFO/GO/EXPORT_NAME.</param>
    /// <param name="list">Names reported for NBD_OPT_LIST; null lists nothing.</param>
    /// <param name="options">Tunables; null for defaults.</param>
    public NbdServer(EndPoint endpoint, Func<string, INbdExport?> resolve, Func<IEnumerable<string>>? list = null, NbdServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(resolve);
        _options = options ?? new NbdServerOptions();
        _options.Validate();
        _endpoint = endpoint;
        _resolve = resolve;
        _list = list ?? (() => []);
    }

    /// <summary>The endpoint actually bound (with the real port when port 0 was asked for); null before <see cref="StartAsync"/>.</summary>
    public EndPoint? LocalEndPoint { get; private set; }

    /// <summary>Number of connections currently being served.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>
    /// Clients connected to <paramref name="exportName"/> now: sessions past the handshake that chose this export and have
    /// not ended (a client that disconnected, or was disconnected, no longer counts). A planned failover waits on it.
    /// </summary>
    public int ClientsOf(string exportName) => _sessions.Keys.Count(c => c.ExportName == exportName);

    /// <summary>Binds and starts accepting connections. Completes once the socket is listening.</summary>
    /// <exception cref="InvalidOperationException">Already started or disposed.</exception>
    /// <exception cref="SocketException">The endpoint could not be bound.</exception>
    public Task StartAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_listener is not null) throw new InvalidOperationException("The NBD server is already started.");
        ct.ThrowIfCancellationRequested();

        var protocol = _endpoint is UnixDomainSocketEndPoint ? ProtocolType.Unspecified : ProtocolType.Tcp;
        var listener = new Socket(_endpoint.AddressFamily, SocketType.Stream, protocol);
        try
        {
            if (_endpoint is UnixDomainSocketEndPoint unix && !OperatingSystem.IsWindows()) PrivateUnixSocket.Bind(listener, unix);
            else listener.Bind(_endpoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        LocalEndPoint = listener.LocalEndPoint;
        _acceptLoop = Task.Run(() => AcceptLoopAsync(listener));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Serves one already-connected client over <paramref name="stream"/> (for transports other than the listener).
    /// Completes when the client disconnects, the session fails, or <paramref name="ct"/> / the server stops. Never throws.
    /// </summary>
    public async Task ServeAsync(Stream stream, string peer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stopping.Token);
        var connection = new NbdConnection(stream, _resolve, _list, _options, peer, _draining.Token);
        _sessions[connection] = 0;
        try { await connection.RunAsync(linked.Token).ConfigureAwait(false); }
        finally { _sessions.TryRemove(connection, out _); }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_draining.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_draining.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_draining.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                Log($"accept failed: {ex.Message}");
                continue;
            }

            var id = Interlocked.Increment(ref _nextConnectionId);
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var task = Task.Run(async () =>
            {
                await start.Task.ConfigureAwait(false);
                await ServeSocketAsync(id, client).ConfigureAwait(false);
            });
            _connections[id] = (client, task);
            start.SetResult();
            if (_draining.IsCancellationRequested) client.Dispose();
        }
    }

    private async Task ServeSocketAsync(long id, Socket client)
    {
        string peer;
        try
        {
            peer = client.RemoteEndPoint?.ToString() ?? $"#{id}";
            if (client.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) client.NoDelay = true;
        }
        catch (Exception)
        {
            peer = $"#{id}";
        }
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            await ServeAsync(stream, peer, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log($"connection {peer} ended with {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            client.Dispose();
            _connections.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Stops listening, lets connected clients wind down for <see cref="NbdServerOptions.ShutdownGrace"/> (running
    /// requests finish, new ones get NBD_ESHUTDOWN), then closes every connection left and waits for their tasks.
    /// Idempotent.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _draining.Cancel();
        _listener?.Dispose();
        if (_listener is not null && _endpoint is UnixDomainSocketEndPoint unix && !OperatingSystem.IsWindows()) PrivateUnixSocket.Remove(unix);
        if (_acceptLoop is not null)
        {
            try { await _acceptLoop.ConfigureAwait(false); } catch (Exception) { /* already logged */ }
        }
        var draining = _connections.Values.Select(c => c.Task).ToList();
        if (draining.Count > 0 && _options.ShutdownGrace > TimeSpan.Zero)
        {
            try { await Task.WhenAll(draining).WaitAsync(_options.ShutdownGrace).ConfigureAwait(false); }
            catch (Exception) { /* the grace period ended: what is left is closed below */ }
        }
        _stopping.Cancel();
        var tasks = new List<Task>();
        foreach (var (_, (socket, task)) in _connections)
        {
            try { socket.Shutdown(SocketShutdown.Both); } catch (Exception) { /* already closed */ }
            socket.Dispose();
            tasks.Add(task);
        }
        try { await Task.WhenAll(tasks).ConfigureAwait(false); } catch (Exception) { /* connections never throw */ }
        if (_endpoint is UnixDomainSocketEndPoint && _listener is not null)
        {
            var path = _endpoint.ToString();
            try { if (!string.IsNullOrEmpty(path) && File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private void Log(string message)
    {
        try { _options.Log?.Invoke($"nbd: {message}"); } catch { /* never let logging fail the server */ }
    }
}
