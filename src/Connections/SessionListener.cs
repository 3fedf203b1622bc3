using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Connections;

/// <summary>
/// The accepting side of a data-path role (a process server for agents, a master target for process servers): one
/// listening socket, and a loop that hands every accepted connection to its session on a task of its own.
/// </summary>
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
    int _open;
    long _refusedInBurst;

    /// <summary>Binds and listens at once, so a port already taken fails the start with <see cref="IOException"/> naming it.</summary>
    /// <param name="maxConnections">Connections served at once; one more is closed as soon as it is accepted.</param>
    public SessionListener(string role, IPEndPoint listen, int maxConnections = DefaultMaxConnections)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        _role = role;
        _maxConnections = maxConnections;
        _socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try { _socket.Bind(listen); }
        catch (SocketException e)
        {
            _socket.Dispose();
            throw new IOException($"{role}: cannot listen on {listen}: {e.Message}", e);
        }
        _socket.Listen(64);
    }

    /// <summary>Connections being served now (accepted and not yet ended).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    public IPEndPoint? BoundEndpoint => _socket.LocalEndPoint as IPEndPoint;

    /// <summary>Accepts until <paramref name="ct"/>; each connection runs <paramref name="serve"/>, which owns the socket.</summary>
    public async Task AcceptAsync(Func<Socket, CancellationToken, Task> serve, Action<string> log, CancellationToken ct)
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
            s.NoDelay = true;
            Interlocked.Increment(ref _open);
            _ = Task.Run(async () =>
            {
                try { await serve(s, ct).ConfigureAwait(false); }
                finally { Interlocked.Decrement(ref _open); }
            }, CancellationToken.None);
        }
    }

    public void Dispose() => _socket.Dispose();
}
