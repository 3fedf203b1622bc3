using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.Support;

/// <summary>
/// A hand-driven sender end of one data-path hop (an agent to a process server, or a process server to a master
/// target): raw TCP, frames built with the project's own wire types, so a test can send records no real sender would.
/// </summary>
public sealed class WireClient : IAsyncDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _net;

    WireClient(Socket socket)
    {
        _socket = socket;
        _net = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<WireClient> ConnectAsync(IPEndPoint endpoint)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await s.ConnectAsync(endpoint, cts.Token);
        return new WireClient(s);
    }

    static CancellationToken Timeout(TimeSpan? t = null) => new CancellationTokenSource(t ?? TimeSpan.FromSeconds(30)).Token;

    /// <summary>Offers one disk and returns where the peer says to resume from.</summary>
    public async Task<long> HelloAsync(string sourceId, string disk, long size)
    {
        await FrameIo.WriteAsync(_net, FrameType.Control, TestWriters.Sign(new Hello(sourceId, [new DiskOffer(disk, size, "machine-" + disk)])).ToBytes(), Timeout());
        var reply = await ReadControlAsync();
        return reply is Resume r ? r.DurableThrough[disk] : throw new InvalidOperationException($"hello answered with {reply}");
    }

    /// <summary>Sends a control message; a hello is signed by its source's test writer (<see cref="TestWriters"/>) unless signed already.</summary>
    public async Task SendControlAsync(ControlMessage m) => await FrameIo.WriteAsync(_net, FrameType.Control, TestWriters.Sign(m).ToBytes(), Timeout());

    /// <summary>Bytes as they are, framed or not: what a confused or hostile peer sends.</summary>
    public async Task SendRawAsync(byte[] bytes) => await _net.WriteAsync(bytes, Timeout());

    public async Task SendDeltaAsync(Delta d) => await FrameIo.WriteAsync(_net, FrameType.Delta, DeltaCodec.Encode(d), Timeout());

    public async Task<ControlMessage> ReadControlAsync(TimeSpan? timeout = null)
    {
        var frame = await FrameIo.ReadAsync(_net, Timeout(timeout)) ?? throw new IOException("the peer closed the connection");
        Assert.Equal(FrameType.Control, frame.Type);
        return ControlMessage.Parse(frame.Body);
    }

    /// <summary>Reads control frames until an ack of <paramref name="disk"/> through at least <paramref name="sequence"/>.</summary>
    public async Task AckedAsync(string disk, long sequence, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"no ack of {disk} through #{sequence}");
            if (await ReadControlAsync(left) is Ack a && a.DiskId == disk && a.DurableThrough >= sequence) return;
        }
    }

    /// <summary>True when the peer closes (or resets) the connection within <paramref name="timeout"/>; false if it stays open.</summary>
    public async Task<bool> ClosedByPeerAsync(TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                if (await _net.ReadAsync(buffer, cts.Token) == 0) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return _net.DisposeAsync();
    }
}
