using System.Collections.Concurrent;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The accepting end of a control-only connection (an agent's at its process server, a process server's at its
/// master target), once its hello is answered: group-hold requests go out with <see cref="Send"/>, written at once
/// by the caller, and the answers are read by a thread of its own, which completes the waiting request in
/// <paramref name="pending"/> right there. That table completes on the receiving thread, so
/// what follows an answer (the next hop's reply, the coordinator's next phase) runs on this thread too, with no
/// thread-pool turn behind the data path's synchronous fsyncs and writes.
/// </summary>
sealed class AcceptedControl(string peer, HopConnection connection, PendingReplies<ControlMessage> pending, Action<string> log)
{
    readonly ControlChannel _channel = new(connection);

    /// <summary>Sends a request; <see cref="IOException"/> or <see cref="ObjectDisposedException"/> when the connection is gone.</summary>
    public void Send(ControlMessage message) => _channel.Send(message);

    public void Close() => _channel.Dispose();

    /// <summary>
    /// Serves a peer's control connection after its hello: it replaces (and closes) the peer's previous one in
    /// <paramref name="byPeer"/>, answers resume, reads answers until the connection ends, then leaves the registry.
    /// </summary>
    public static async Task ServeAsync(Hello hello, HopConnection connection, PendingReplies<ControlMessage> pending,
        ConcurrentDictionary<string, AcceptedControl> byPeer, Action<string> log, CancellationToken ct)
    {
        var peer = hello.SourceId;
        var control = new AcceptedControl(peer, connection, pending, log);
        if (byPeer.TryGetValue(peer, out var previous)) previous.Close();
        byPeer[peer] = control;
        try
        {
            control.Send(SessionHandshake.ResumeFor(hello, new Dictionary<string, long>()));
            await control.RunAsync(ct).ConfigureAwait(false);
        }
        finally { byPeer.TryRemove(new KeyValuePair<string, AcceptedControl>(peer, control)); }
    }

    /// <summary>Reads answers until the connection ends (or <paramref name="ct"/> closes it); the task completes then.</summary>
    public Task RunAsync(CancellationToken ct) => ControlChannel.StartThread($"control {peer}", () =>
    {
        using var closeOnStop = ct.Register(Close);
        try
        {
            while (_channel.Receive() is { } message)
            {
                if (message is IAgentReply reply) pending.Complete(reply.RequestId, message);
                else if (message is not IAgentReply) log($"control connection from {peer}: ignoring {message.GetType().Name}");
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException)
        {
            if (!ct.IsCancellationRequested) log($"control connection from {peer} ended: {e.Message}");
        }
        finally { Close(); }
    });
}
