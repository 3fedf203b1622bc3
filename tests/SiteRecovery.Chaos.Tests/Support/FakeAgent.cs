using System.Net;
using System.Net.Sockets;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>A hand-driven agent end of the data path: raw TCP, frames built with the project's own wire types.</summary>
public sealed class FakeAgent : IAsyncDisposable
{
    readonly Socket _socket;
    readonly NetworkStream _net;

    FakeAgent(Socket socket)
    {
        _socket = socket;
        _net = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<FakeAgent> ConnectAsync(int port)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        return new FakeAgent(s);
    }

    static CancellationToken Timeout(TimeSpan? t = null) => new CancellationTokenSource(t ?? TimeSpan.FromSeconds(30)).Token;

    public async Task<Resume> HelloAsync(string agentId, string disk, long size)
    {
        await SendControlAsync(new Hello(agentId, [new DiskOffer(disk, size, agentId)]));
        var reply = await ReadControlAsync();
        return reply as Resume ?? throw new InvalidOperationException($"hello answered with {reply}");
    }

    /// <summary>Sends a control message; a hello is signed by its source's test writer (<see cref="TestWriters"/>) unless signed already.</summary>
    public async Task SendControlAsync(ControlMessage m) => await FrameIo.WriteAsync(_net, FrameType.Control, TestWriters.Sign(m).ToBytes(), Timeout());

    public async Task SendDeltaAsync(Delta d) => await FrameIo.WriteAsync(_net, FrameType.Delta, DeltaCodec.Encode(d), Timeout());

    public async Task SendFrameAsync(FrameType type, byte[] body) => await FrameIo.WriteAsync(_net, type, body, Timeout());

    public async Task SendRawAsync(byte[] bytes) => await _net.WriteAsync(bytes, Timeout());

    public async Task<ControlMessage> ReadControlAsync(TimeSpan? timeout = null)
    {
        var frame = await FrameIo.ReadAsync(_net, Timeout(timeout)) ?? throw new IOException("the process server closed the connection");
        Assert.Equal(FrameType.Control, frame.Type);
        return ControlMessage.Parse(frame.Body);
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
                var n = await _net.ReadAsync(buffer, cts.Token);
                if (n == 0) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }
    }

    public static Delta Write(string disk, long seq, long offset, byte[] payload)
        => Delta.Create(disk, seq, DeltaKind.Write, offset, payload.Length, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return _net.DisposeAsync();
    }
}
