using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Connections;

/// <summary>
/// The accepting side of a data-path role (a process server for agents, a master target for process servers): one
/// listening socket, and a loop that hands every accepted connection to its session on a task of its own.
/// </summary>
public sealed class SessionListener : IDisposable
{
    readonly Socket _socket;
    readonly string _role;

    /// <summary>Binds and listens at once, so a port already taken fails the start with <see cref="IOException"/> naming it.</summary>
    public SessionListener(string role, IPEndPoint listen)
    {
        _role = role;
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
            s.NoDelay = true;
            _ = Task.Run(() => serve(s, ct), CancellationToken.None);
        }
    }

    public void Dispose() => _socket.Dispose();
}
