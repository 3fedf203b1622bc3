using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// A frame's buffer is allocated as its bytes arrive, not as its header claims: a header that declares 40 MiB and
/// nothing after it costs a chunk, and frames of any size, in pieces of any size, still read back whole.
/// </summary>
public sealed class FrameAllocationTests
{
    /// <summary>
    /// Hands out what was given to it, in pieces of at most <c>piece</c> bytes, completing at once while it has bytes;
    /// then a read waits until more is given: a peer that sent this much and went quiet.
    /// </summary>
    sealed class HeldStream(int piece = int.MaxValue) : Stream
    {
        readonly Queue<byte> _bytes = new();
        TaskCompletionSource? _more;

        public void Give(ReadOnlySpan<byte> bytes)
        {
            foreach (var b in bytes) _bytes.Enqueue(b);
            Interlocked.Exchange(ref _more, null)?.TrySetResult();
        }

        public int Unread => _bytes.Count;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            while (_bytes.Count == 0)
            {
                var more = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _more = more;
                await more.Task.WaitAsync(ct);
            }
            var n = Math.Min(Math.Min(buffer.Length, piece), _bytes.Count);
            for (var i = 0; i < n; i++) buffer.Span[i] = _bytes.Dequeue();
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    static byte[] Header(int length, FrameType type = FrameType.Delta)
    {
        var header = new byte[FrameHeader.Size];
        FrameHeader.Write(header, length, type);
        return header;
    }

    static byte[] Body(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + length)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_header_declaring_40_MiB_with_nothing_after_it_costs_a_chunk_not_the_declared_length(bool pooled)
    {
        const int declared = 40 << 20;
        var stream = new HeldStream();
        stream.Give(Header(declared));
        stream.Give(Body(100));

        // Everything up to the read that waits runs on this thread: what it allocated is counted here.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var reader = new FrameReader(stream) { MaxFrame = FrameIo.MaxFrame };
        var pending = pooled ? reader.ReadPooledAsync(CancellationToken.None).AsTask().ContinueWith(t => t.Result!.Value.Body.ToArray())
                             : reader.ReadAsync(CancellationToken.None).AsTask().ContinueWith(t => t.Result!.Value.Body);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.False(pending.IsCompleted, "the frame completed from 105 bytes");
        Assert.True(reader.WaitingSince > 0, "the reader does not say it waits for the peer");
        Assert.True(allocated < 4 * FrameReader.FirstChunk, $"a header declaring {declared} bytes made the reader allocate {allocated} bytes; want under {4 * FrameReader.FirstChunk}");

        // The peer goes on and sends the rest: the frame reads back whole.
        var whole = Body(declared);
        stream.Give(whole.AsSpan(100));
        var got = await pending.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(declared, got.Length);
        Assert.True(whole.AsSpan(100).SequenceEqual(got.AsSpan(100)), "the body read back differs from what was sent");
        Assert.Equal(0, reader.WaitingSince);
    }

    [Fact]
    public async Task Frames_of_every_size_in_pieces_of_every_size_read_back_whole_and_FrameIo_reads_no_further_than_its_frame()
    {
        int[] sizes = [0, 1, FrameHeader.Size, 4095, FrameReader.FirstChunk - 1, FrameReader.FirstChunk, FrameReader.FirstChunk + 1, 300_000, (1 << 20) + 3];
        foreach (var piece in new[] { 1, 7, 4096, 100_000, int.MaxValue })
        {
            var stream = new HeldStream(piece);
            foreach (var size in sizes)
            {
                stream.Give(Header(size));
                stream.Give(Body(size));
            }
            var reader = new FrameReader(stream);
            foreach (var size in sizes)
            {
                var pooled = size % 2 == 0;
                byte[] body;
                if (pooled)
                {
                    using var f = (await reader.ReadPooledAsync(CancellationToken.None))!.Value;
                    body = f.Body.ToArray();
                }
                else body = (await reader.ReadAsync(CancellationToken.None))!.Value.Body;
                Assert.True(Body(size).AsSpan().SequenceEqual(body), $"frame of {size} bytes in pieces of {piece}: read back differs (got {body.Length} bytes)");
            }

            // FrameIo reads exactly one frame: the next frame's bytes stay in the stream for whoever reads next.
            stream.Give(Header(3, FrameType.Control));
            stream.Give(Body(3));
            stream.Give(Header(9));
            var one = await FrameIo.ReadAsync(stream, CancellationToken.None);
            Assert.Equal(3, one!.Value.Body.Length);
            Assert.Equal(FrameHeader.Size, stream.Unread);
        }
    }

    [Fact]
    public async Task A_reader_waiting_for_the_next_frame_holds_no_read_buffer_however_large_the_last_frames_grew_it()
    {
        // Small frames arriving faster than they are read fill the read buffer again and again: it grows to its full size.
        const int frames = 3000, size = 1000;
        var stream = new HeldStream();
        for (var i = 0; i < frames; i++)
        {
            stream.Give(Header(size));
            stream.Give(Body(size));
        }
        var reader = new FrameReader(stream);
        var largest = 0;
        for (var i = 0; i < frames; i++)
        {
            using var f = (await reader.ReadPooledAsync(CancellationToken.None))!.Value;
            Assert.Equal(size, f.Length);
            largest = Math.Max(largest, reader.HeldBytes);
        }
        Assert.True(largest >= 1 << 20, $"the read buffer grew to {largest} bytes at most; want 1 MiB, else this test proves nothing");

        // The peer goes quiet: the connection is idle, and the reader waiting on it holds nothing.
        var next = reader.ReadPooledAsync(CancellationToken.None).AsTask();
        Assert.False(next.IsCompleted, "a frame came from nothing");
        Assert.True(reader.WaitingSince > 0, "the reader does not say it waits for the peer");
        Assert.Equal(0, reader.HeldBytes);

        // And it reads on when the peer sends again.
        stream.Give(Header(size));
        stream.Give(Body(size));
        using var again = (await next.WaitAsync(TimeSpan.FromSeconds(30)))!.Value;
        Assert.True(Body(size).AsSpan().SequenceEqual(again.Body.Span), "the frame after the idle spell reads back differently");
    }

    [Fact]
    public async Task A_peer_that_closes_inside_a_body_is_named_with_how_much_came()
    {
        var stream = new HeldStream();
        stream.Give(Header(1000));
        stream.Give(Body(10));
        var reader = new FrameReader(new ClosingAfter(stream, 15));
        var e = await Assert.ThrowsAsync<EndOfStreamException>(async () => await reader.ReadPooledAsync(CancellationToken.None));
        Assert.Equal("connection closed inside a frame (10 of 1000 bytes)", e.Message);
    }

    [Fact]
    public async Task A_delta_header_on_a_control_only_reader_is_refused_from_the_header()
    {
        var stream = new HeldStream();
        stream.Give(Header(10));
        var reader = new FrameReader(stream) { ControlOnly = true };
        var e = await Assert.ThrowsAsync<InvalidDataException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Contains("on a control-only connection", e.Message);
    }

    /// <summary>Ends (reads 0) once <c>limit</c> bytes were read from the inner stream.</summary>
    sealed class ClosingAfter(Stream inner, int limit) : Stream
    {
        int _read;
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_read >= limit) return 0;
            var n = await inner.ReadAsync(buffer[..Math.Min(buffer.Length, limit - _read)], ct);
            _read += n;
            return n;
        }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
