using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// A control-only connection (group holds, failover stops and their answers): control frames only, each at most
/// <see cref="FrameHeader.MaxControlFrame"/>, read by <see cref="ReceiveAsync"/> and written through the session's one
/// <see cref="FrameSender"/>, like every other session. Async, like the rest: no thread is held per connection while it
/// waits. What follows a received answer runs on the task that received it (see <see cref="PendingReplies{TReply}"/>),
/// so a hold's next step takes no extra thread-pool turn.
/// </summary>
public sealed class ControlChannel : IDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _net;
    int _closed;

    /// <summary>A channel on a connected <paramref name="socket"/>, which it owns from now on.</summary>
    public ControlChannel(Socket socket)
    {
        _socket = socket;
        _net = new NetworkStream(socket, ownsSocket: false);
        // Holds and their answers are a few hundred bytes: a small read buffer and the control bound.
        Reader = new FrameReader(_net, FrameReader.FirstChunk) { MaxFrame = FrameHeader.MaxControlFrame, ControlOnly = true };
        Sender = new FrameSender(_net);
    }

    /// <summary>What this channel reads with; an <see cref="IdleWatch"/> watches it.</summary>
    public FrameReader Reader { get; }

    /// <summary>The one send path of this channel (its keepalives go through it too).</summary>
    public FrameSender Sender { get; }

    /// <summary>
    /// The connecting end: connects to <paramref name="peer"/> at <paramref name="endPoint"/>, says hello as
    /// <paramref name="sourceId"/> offering no disks, and returns once the peer answered resume, with that answer (what it
    /// asks for keepalives: <see cref="SessionHandshake.KeepAliveAsync"/>). Throws <see cref="IOException"/>,
    /// <see cref="SocketException"/> or <see cref="InvalidDataException"/> naming what went wrong.
    /// </summary>
    public static async Task<(ControlChannel Channel, Resume Answer)> OpenAsync(EndPoint endPoint, string sourceId, string peer, CancellationToken ct)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try { await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false); }
        catch
        {
            socket.Dispose();
            throw;
        }
        // Only a connected socket makes a stream.
        var channel = new ControlChannel(socket);
        try
        {
            var answer = await SessionHandshake.OpenAsync(channel._net, channel._net, new Hello(sourceId, []), peer, ct).ConfigureAwait(false);
            return (channel, answer);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>Writes one control frame; <see cref="IOException"/> or <see cref="ObjectDisposedException"/> when the connection is gone.</summary>
    public Task SendAsync(ControlMessage message, CancellationToken ct) => Sender.SendAsync(message, ct);

    /// <summary>The next message; null when the peer closed the connection between frames. One reader at a time.</summary>
    public async ValueTask<ControlMessage?> ReceiveAsync(CancellationToken ct) =>
        await Reader.ReadAsync(ct).ConfigureAwait(false) is { } frame ? ControlMessage.Parse(frame.Body) : null;

    /// <summary>Closes the connection; a receive or send waiting on it ends at once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1) return;
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _socket.Dispose();
        _net.Dispose();
    }
}
