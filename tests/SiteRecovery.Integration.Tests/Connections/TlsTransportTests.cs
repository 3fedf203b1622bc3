using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// The stream beneath SslStream on a TLS hop (<see cref="TlsTransport"/>, <see cref="GatheringSslStream"/>): a write's
/// records gathered into a few sends and on the wire when the write returns, the handshake never held back, bytes read
/// ahead counted as arrived by the receivers' commit-when-idle (<see cref="HopConnection.DataAvailable"/>), and every
/// byte through it intact, on the real listener and connector with certificates of a real site authority.
/// </summary>
public sealed class TlsTransportTests : IDisposable
{
    // Two frames, each of several records, fit in a loopback socket's receive buffer (about 128 KiB) at once.
    const int FrameBytes = 32 << 10;

    readonly string _root = Path.Combine(Path.GetTempPath(), "tls-transport-" + Guid.NewGuid().ToString("N"));
    readonly HopTlsTests.Pki _site;
    readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(2));
    readonly List<string> _log = [];

    public TlsTransportTests() => _site = new HopTlsTests.Pki(Path.Combine(_root, "site"));

    public void Dispose()
    {
        _stop.Cancel();
        _site.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    string Logs() { lock (_log) return string.Join('\n', _log); }

    SessionListener Listen(Func<HopConnection, CancellationToken, Task> serve)
    {
        var listener = new SessionListener("process server", new IPEndPoint(IPAddress.Loopback, 0),
            tls: new HopListenerTls(HopTlsMode.Required, _site.Component(ComponentKind.ProcessServer, "ps1"), ComponentKind.Agent));
        _ = listener.AcceptAsync(serve, m => { lock (_log) _log.Add(m); }, _stop.Token);
        return listener;
    }

    HopClientTls AgentTls() => new(_site.Component(ComponentKind.Agent, "vm1"), new ExpectedPeer(ComponentKind.ProcessServer, "ps1"));

    [Fact]
    public async Task Frames_read_ahead_beneath_TLS_count_as_arrived_until_they_are_read_and_not_after()
    {
        // A receiver commits (fsyncs and acknowledges) when nothing more has arrived. Beneath TLS the second frame is
        // already read ahead off the socket while the first is decrypted: taken for silence, every frame would be a commit.
        var seen = new TaskCompletionSource<(bool AfterFirst, int ReadAhead, bool AfterSecond)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var served = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = Listen(async (hop, ct) =>
        {
            await using (hop)
            {
                served.TrySetResult();
                try
                {
                    // Both frames wholly on this side before the first read, so that one receive takes them both.
                    var arrived = 2 * (FrameHeader.Size + FrameBytes);
                    var deadline = DateTime.UtcNow.AddSeconds(30);
                    for (var last = -1; hop.Socket.Available < arrived || hop.Socket.Available != last; await Task.Delay(100, ct))
                    {
                        last = hop.Socket.Available;
                        if (DateTime.UtcNow > deadline) throw new TimeoutException($"only {hop.Socket.Available} of at least {arrived} bytes arrived");
                    }
                    var reader = new FrameReader(hop.Stream);
                    using (var first = (await reader.ReadPooledAsync(ct))!.Value) Assert.Equal(FrameBytes, first.Length);
                    var afterFirst = reader.BufferedBytes > 0 || hop.DataAvailable;
                    var readAhead = hop.Socket.Available;
                    using (var second = (await reader.ReadPooledAsync(ct))!.Value) Assert.Equal(FrameBytes, second.Length);
                    seen.TrySetResult((afterFirst, readAhead, reader.BufferedBytes > 0 || hop.DataAvailable));
                }
                catch (Exception e) { seen.TrySetException(e); }
            }
        });
        await using var client = await HopConnector.ConnectAsync(listener.BoundEndpoint!, AgentTls(), "process server", _stop.Token);
        var payload = RandomNumberGenerator.GetBytes(FrameBytes);
        // Sent once the listener's handshake is over, so that nothing of the frames was read with its last record.
        await served.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await new FrameSender(client.Stream).SendBatchAsync(async (s, ct) =>
        {
            await FrameIo.WriteAsync(s, FrameType.Delta, payload, ct);
            await FrameIo.WriteAsync(s, FrameType.Delta, payload, ct);
        }, _stop.Token);
        var (afterFirst, socketAfterFirst, afterSecond) = await seen.Task.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(socketAfterFirst == 0, $"the second frame should have been read ahead off the socket with the first; {socketAfterFirst} bytes were left there\n{Logs()}");
        Assert.True(afterFirst, "after the first frame, the second (read ahead beneath SslStream) was taken for silence: the receiver would commit after every frame");
        Assert.False(afterSecond, "after the last frame, the connection still said more had arrived: the receiver would wait for it with its writes uncommitted");
    }

    [Fact]
    public async Task A_write_goes_out_in_a_few_large_sends_and_is_on_the_wire_when_it_returns_without_a_flush()
    {
        var got = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = Listen(async (hop, ct) =>
        {
            await using (hop)
            {
                try { got.TrySetResult((await new FrameReader(hop.Stream).ReadPooledAsync(ct)) is { } f ? f.Length : -1); }
                catch (Exception e) { got.TrySetException(e); }
            }
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(listener.BoundEndpoint!, _stop.Token);
        var counted = new CountedWrites(new NetworkStream(socket, ownsSocket: false));
        var tls = AgentTls();
        using var own = tls.Own.Load();
        // The handshake's messages go out as SslStream writes them: it completes with nobody flushing anything.
        var (ssl, _) = await HopTls.ConnectAsync(new TlsTransport(counted), own, tls.Expected, "process server", _stop.Token);
        await using (ssl)
        {
            var before = counted.Writes;
            // 1 MiB is 64 records: SslStream alone writes them to its inner stream in 33 sends of the socket.
            await FrameIo.WriteAsync(ssl, FrameType.Delta, RandomNumberGenerator.GetBytes(1 << 20), _stop.Token);
            var sends = counted.Writes - before;
            Assert.Equal(1 << 20, await got.Task.WaitAsync(TimeSpan.FromSeconds(30)));
            var most = 1 + (1 << 20) / TlsTransport.BufferBytes + 2;
            Assert.True(sends <= most, $"a 1 MiB frame took {sends} sends of the socket; gathered, it takes at most {most}\n{Logs()}");
        }
    }

    /// <summary>The transport's stream below, counting the writes that reach it (each one send of the socket).</summary>
    sealed class CountedWrites(Stream inner) : Stream
    {
        public int Writes;
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override void Write(byte[] buffer, int offset, int count) { Interlocked.Increment(ref Writes); inner.Write(buffer, offset, count); }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Interlocked.Increment(ref Writes);
            return inner.WriteAsync(buffer, ct);
        }
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }

    [Fact]
    public async Task Every_byte_crosses_intact_both_ways_through_the_async_and_the_blocking_connector()
    {
        // Frames of every size class, from one byte to several records and beyond the gather buffer, echoed back.
        int[] sizes = [1, 5, 100, 16 << 10, (16 << 10) + 1, 100_000, TlsTransport.BufferBytes - 3, TlsTransport.BufferBytes + 7, 1 << 20, 3_000_001];
        using var listener = Listen(async (hop, ct) =>
        {
            await using (hop)
            {
                var reader = new FrameReader(hop.Stream);
                var sender = new FrameSender(new BufferedStream(hop.Stream, 1 << 20));
                try
                {
                    while (await reader.ReadAsync(ct) is { } frame)
                        await sender.SendBatchAsync((s, c) => FrameIo.WriteAsync(s, frame.Type, frame.Body, c).AsTask(), ct);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException) { }
            }
        });
        var rng = new Random(7);
        var frames = sizes.Select(n => { var b = new byte[n]; rng.NextBytes(b); return b; }).ToList();

        await using (var hop = await HopConnector.ConnectAsync(listener.BoundEndpoint!, AgentTls(), "process server", _stop.Token))
        {
            var reader = new FrameReader(hop.Stream);
            var echo = Task.Run(async () =>
            {
                var back = new List<byte[]>();
                for (var i = 0; i < frames.Count; i++) back.Add((await reader.ReadAsync(_stop.Token))!.Value.Body);
                return back;
            });
            var sender = new FrameSender(new BufferedStream(hop.Stream, 1 << 20));
            foreach (var f in frames) await sender.SendBatchAsync((s, c) => FrameIo.WriteAsync(s, FrameType.Delta, f, c).AsTask(), _stop.Token);
            var back = await echo.WaitAsync(TimeSpan.FromSeconds(60));
            for (var i = 0; i < frames.Count; i++) Assert.True(frames[i].AsSpan().SequenceEqual(back[i]), $"frame {i} of {frames[i].Length} bytes came back changed\n{Logs()}");
        }

        // The control links' blocking form: the same transport through synchronous reads and writes.
        using (var hop = HopConnector.Connect(listener.BoundEndpoint!, AgentTls(), "process server", _stop.Token))
        {
            foreach (var f in frames.Take(8))
            {
                var header = new byte[FrameHeader.Size];
                FrameHeader.Write(header, f.Length, FrameType.Delta);
                hop.Stream.Write(header);
                hop.Stream.Write(f);
                hop.Stream.Flush();
                var got = new byte[FrameHeader.Size + f.Length];
                hop.Stream.ReadExactly(got);
                Assert.True(f.AsSpan().SequenceEqual(got.AsSpan(FrameHeader.Size)), $"frame of {f.Length} bytes came back changed through the blocking form\n{Logs()}");
            }
        }
    }
}
