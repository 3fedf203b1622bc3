using System.Collections.Concurrent;
using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The accepting end of a control-only connection (an agent's at its process server, a process server's at its
/// master target), once its hello is answered: group-hold requests go out with <see cref="SendAsync"/>, and the answers
/// are read by <see cref="RunAsync"/>, which completes the waiting request in <paramref name="pending"/> right there.
/// That table completes inline, so what follows an answer (the next hop's reply, the coordinator's next phase) runs on
/// the receiving task, with no further thread-pool turn. A peer that stops saying anything, keepalives included, for
/// the idle timeout is closed (<see cref="IdleWatch"/>).
/// </summary>
sealed class AcceptedControl(string peer, Socket socket, PendingReplies<ControlMessage> pending, Action<string> log)
{
    readonly ControlChannel _channel = new(socket);

    /// <summary>Sends a request; <see cref="IOException"/> or <see cref="ObjectDisposedException"/> when the connection is gone.</summary>
    public Task SendAsync(ControlMessage message, CancellationToken ct) => _channel.SendAsync(message, ct);

    public void Close() => _channel.Dispose();

    /// <summary>
    /// Serves a peer's control connection after its hello: it replaces (and closes) the peer's previous one in
    /// <paramref name="byPeer"/>, answers resume (asking for keepalives when <paramref name="idleTimeout"/> is set and the
    /// peer speaks them), reads answers until the connection ends, then leaves the registry.
    /// </summary>
    public static async Task ServeAsync(Hello hello, Socket socket, PendingReplies<ControlMessage> pending,
        ConcurrentDictionary<string, AcceptedControl> byPeer, TimeSpan? idleTimeout, Action<string> log, CancellationToken ct)
    {
        var peer = hello.SourceId;
        var control = new AcceptedControl(peer, socket, pending, log);
        if (byPeer.TryGetValue(peer, out var previous)) previous.Close();
        byPeer[peer] = control;
        try
        {
            var answer = SessionHandshake.ResumeFor(hello, new Dictionary<string, long>(), idleTimeout);
            await control.SendAsync(answer, ct).ConfigureAwait(false);
            await control.RunAsync(answer, idleTimeout, ct).ConfigureAwait(false);
        }
        finally { byPeer.TryRemove(new KeyValuePair<string, AcceptedControl>(peer, control)); }
    }

    /// <summary>Reads answers until the connection ends (or <paramref name="ct"/>, or the idle timeout, closes it).</summary>
    async Task RunAsync(Resume answered, TimeSpan? idleTimeout, CancellationToken ct)
    {
        using var idle = IdleWatch.For(answered, _channel.Reader, idleTimeout, Close);
        try
        {
            while (await _channel.ReceiveAsync(ct).ConfigureAwait(false) is { } message)
            {
                switch (message)
                {
                    case IAgentReply reply: pending.Complete(reply.RequestId, message); break;
                    case Keepalive: break;
                    default: log($"control connection from {peer}: ignoring {message.GetType().Name}"); break;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException or SocketException or OperationCanceledException)
        {
            if (idle is not { Expired: true } && !ct.IsCancellationRequested) log($"control connection from {peer} ended: {e.Message}");
        }
        finally
        {
            Close();
            // Said here, however the closed socket surfaced (an error, or an end of stream).
            if (idle is { Expired: true }) log($"control connection from {peer} {idle.Reason}");
        }
    }
}
