using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// The forwarder's write side (<see cref="SendBuffer"/> under a <see cref="FrameSender"/>): the same sends on the wire as
/// the <see cref="BufferedStream"/> it replaced, and no buffer held between sends, so an idle connection costs none.
/// </summary>
public sealed class SendBufferTests
{
    const int BufferBytes = 1 << 20;

    /// <summary>The stream beneath: what was sent, write by write.</summary>
    sealed class Recorded : Stream
    {
        public List<int> Writes { get; } = [];
        public MemoryStream Bytes { get; } = new();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Writes.Add(buffer.Length);
            Bytes.Write(buffer);
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    static byte[] Body(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + seed)).ToArray();

    /// <summary>Batches of frames of mixed sizes (a control frame, 4 KiB to 1 MiB + 3 records) as the forwarder sends them.</summary>
    static async Task SendAsync(Stream output, int seed)
    {
        var random = new Random(seed);
        int[] sizes = [0, 1, 4096, 65536, 65536 + 100, 300_000, 700_000, BufferBytes - 5, BufferBytes, BufferBytes + 3];
        var sender = new FrameSender(output);
        for (var batch = 0; batch < 12; batch++)
        {
            if (batch % 4 == 3) await sender.SendAsync(new Ack("disk-" + batch, batch), CancellationToken.None);
            var frames = Enumerable.Range(0, random.Next(1, 9)).Select(i => Body(sizes[random.Next(sizes.Length)], batch * 10 + i)).ToList();
            await sender.SendBatchAsync(async (stream, ct) =>
            {
                foreach (var body in frames) await FrameIo.WriteAsync(stream, FrameType.Delta, body, ct);
            }, CancellationToken.None);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Batches_go_out_in_the_same_sends_and_bytes_as_through_a_BufferedStream_of_the_same_size(int seed)
    {
        var before = new Recorded();
        await SendAsync(new BufferedStream(before, BufferBytes), seed);
        var now = new Recorded();
        await SendAsync(new SendBuffer(now, BufferBytes), seed);

        Assert.True(before.Bytes.ToArray().AsSpan().SequenceEqual(now.Bytes.ToArray()), $"seed {seed}: the bytes sent differ ({now.Bytes.Length} against {before.Bytes.Length})");
        Assert.Equal(before.Writes, now.Writes);
        Assert.Contains(now.Writes, w => w == BufferBytes); // gathered writes of a full buffer happened, not only small ones
    }

    [Fact]
    public async Task The_buffer_is_held_during_a_send_and_given_back_by_its_flush()
    {
        var output = new SendBuffer(new Recorded(), BufferBytes);
        var sender = new FrameSender(output);
        var held = 0;
        await sender.SendBatchAsync(async (stream, ct) =>
        {
            await FrameIo.WriteAsync(stream, FrameType.Delta, Body(65536, 1), ct);
            held = output.HeldBytes;
            await FrameIo.WriteAsync(stream, FrameType.Delta, Body(65536, 2), ct);
        }, CancellationToken.None);
        Assert.True(held >= BufferBytes, $"held {held} bytes while gathering; want the {BufferBytes}-byte buffer");
        Assert.Equal(0, output.HeldBytes);

        await sender.SendAsync(new Ack("d", 7), CancellationToken.None);
        Assert.Equal(0, output.HeldBytes);
    }
}
