using System.Buffers;

namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// Reads length-prefixed frames through its own buffer, and says how many bytes it holds unread,
/// so a receiver can batch its fsyncs: commit when nothing is buffered and the socket is idle.
/// </summary>
/// <remarks>
/// Memory follows the bytes that arrived, never what a header claims: the read buffer starts at
/// <see cref="FirstChunk"/> and doubles only when a read fills it (up to the size asked for), and a frame's body starts
/// at <see cref="FirstChunk"/> (or what is already here) and grows fourfold each time it is full, up to the frame's
/// length. A peer that declares a 40 MiB frame and sends its 5-byte header costs one chunk, not 40 MiB; one that
/// sends the whole frame costs at most four times what it sent. What a connection holds is bounded by the read
/// buffer's size plus <see cref="MaxFrame"/>, the limit its session sets (small until the hello is answered).
/// <para>The read buffer is rented from the shared pool only while it holds bytes: once it is empty the reader gives it
/// back and waits for the peer with a zero-byte read (as <c>TlsTransport</c> does beneath SslStream), so an idle
/// connection holds no read buffer at all, however large a busy spell grew it. A node has two such connections per
/// disk: a heap dump at 100 idle disks found 200 readers each waiting in a 64 KiB buffer (and, on TLS, SslStream's own
/// 16 KiB beneath it), 20 MB that grew with every disk.</para>
/// </remarks>
public sealed class FrameReader(Stream stream, int bufferSize = 1 << 20)
{
    /// <summary>
    /// The first allocation of a read buffer and of a frame's body: a 4 KiB write's frame fits in it, and 1024
    /// connections that each sent a header and nothing more hold 64 MiB, not the 1 GiB their headers may claim.
    /// </summary>
    public const int FirstChunk = 64 << 10;

    // Each growth of a body multiplies it by this: few copies for a large frame (a 1 MiB frame is copied a third of
    // its size over), at the cost of holding at most this many times what arrived.
    const int Growth = 4;

    // The read buffer's size, which a read that fills it doubles (up to bufferSize), and the buffer itself while it holds
    // bytes (null while the reader waits with nothing unread). A rented array may be larger than _size: reads stop at
    // _size, so a reader of one header's size never takes a byte past its frame.
    int _size = Math.Min(bufferSize, FirstChunk);
    byte[]? _buffer;
    int _start;
    int _end;
    long _waitingSince;

    /// <summary>
    /// The largest frame this reader accepts. A session starts with <see cref="FrameHeader.MaxControlFrame"/> until its
    /// hello is answered (the session handshake in src/Connections), then takes the wire's <see cref="FrameIo.MaxFrame"/> for deltas.
    /// </summary>
    public int MaxFrame { get; set; } = FrameIo.MaxFrame;

    /// <summary>True on a control-only connection: a delta frame there is refused from its header.</summary>
    public bool ControlOnly { get; init; }

    /// <summary>Bytes received but not yet returned as frames.</summary>
    public int BufferedBytes => _end - _start;

    /// <summary>Bytes of read buffer this reader holds now: 0 while it has nothing unread (an idle connection).</summary>
    public int HeldBytes => _buffer?.Length ?? 0;

    /// <summary>
    /// <see cref="Environment.TickCount64"/> when the read now waiting on the stream started, or 0 while none waits (the
    /// receiver is busy with what it read, or holds back on purpose): how long the peer has been silent to a receiver that
    /// listens. Written by the reading task, read from any thread.
    /// </summary>
    public long WaitingSince => Volatile.Read(ref _waitingSince);

    /// <summary>One read from the stream into <paramref name="into"/>, marking the wait while it is pending.</summary>
    async ValueTask<int> ReadSomeAsync(Memory<byte> into, CancellationToken ct)
    {
        Volatile.Write(ref _waitingSince, Environment.TickCount64);
        try { return await stream.ReadAsync(into, ct).ConfigureAwait(false); }
        finally { Volatile.Write(ref _waitingSince, 0); }
    }

    async ValueTask<bool> FillAsync(int needed, CancellationToken ct)
    {
        while (_end - _start < needed)
        {
            if (_buffer is null)
            {
                // Nothing unread: wait for the peer holding no buffer, then rent one for what came.
                await ReadSomeAsync(Memory<byte>.Empty, ct).ConfigureAwait(false);
                _buffer = ArrayPool<byte>.Shared.Rent(_size);
            }
            else if (_start > 0 && (_size - _end) < needed)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            int n;
            try { n = await ReadSomeAsync(_buffer.AsMemory(_end, _size - _end), ct).ConfigureAwait(false); }
            catch { ReturnIfEmpty(); throw; }
            if (n == 0)
            {
                ReturnIfEmpty();
                return false;
            }
            _end += n;
            if (_end == _size && _size < bufferSize)
            {
                // The peer sends faster than this buffer takes: give it more room, as much as it has shown it needs.
                _size = Math.Min(bufferSize, _size * 2);
                if (_buffer.Length < _size)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(_size);
                    Buffer.BlockCopy(_buffer, _start, larger, 0, _end - _start);
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = larger;
                    _end -= _start;
                    _start = 0;
                }
            }
        }
        return true;
    }

    /// <summary>Gives the read buffer back once everything in it was taken.</summary>
    void ReturnIfEmpty()
    {
        if (_start != _end || _buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _start = _end = 0;
    }

    /// <summary>Reads one frame; null at a clean end of stream between frames.</summary>
    public async ValueTask<(FrameType Type, byte[] Body)?> ReadAsync(CancellationToken ct)
    {
        var frame = await ReadCoreAsync(ct, pooled: false).ConfigureAwait(false);
        return frame is { } f ? (f.Type, f.Buffer) : null;
    }

    /// <summary>
    /// Reads one frame into a buffer rented from the shared pool; dispose the frame to return it.
    /// For receive loops that copy what they keep, so bulk data allocates nothing per frame.
    /// </summary>
    public ValueTask<PooledFrame?> ReadPooledAsync(CancellationToken ct) => ReadCoreAsync(ct, pooled: true);

    async ValueTask<PooledFrame?> ReadCoreAsync(CancellationToken ct, bool pooled)
    {
        if (!await FillAsync(FrameHeader.Size, ct).ConfigureAwait(false))
        {
            if (_end == _start) return null;
            throw new EndOfStreamException($"connection closed inside a frame header ({_end - _start} of {FrameHeader.Size} bytes)");
        }
        // A filled read holds at least the header: the buffer is there.
        var buffer = _buffer!;
        var (length, type) = FrameHeader.Parse(buffer.AsSpan(_start, FrameHeader.Size), MaxFrame, ControlOnly);
        _start += FrameHeader.Size;
        var have = Math.Min(length, _end - _start);
        var body = Allocate(Math.Min(length, Math.Max(FirstChunk, have)), pooled);
        Buffer.BlockCopy(buffer, _start, body, 0, have);
        _start += have;
        ReturnIfEmpty();
        // The rest goes straight into the body (large frames are not copied through the read buffer), which grows only
        // as the bytes come.
        for (var got = have; got < length;)
        {
            if (got == body.Length)
            {
                var larger = Allocate((int)Math.Min(length, (long)body.Length * Growth), pooled);
                Buffer.BlockCopy(body, 0, larger, 0, got);
                Release(body, pooled);
                body = larger;
            }
            int n;
            try { n = await ReadSomeAsync(body.AsMemory(got, Math.Min(body.Length, length) - got), ct).ConfigureAwait(false); }
            catch { Release(body, pooled); throw; }
            if (n == 0)
            {
                Release(body, pooled);
                throw new EndOfStreamException($"connection closed inside a frame ({got} of {length} bytes)");
            }
            got += n;
        }
        return new PooledFrame(type, body, length, pooled);
    }

    static byte[] Allocate(int length, bool pooled) => pooled ? ArrayPool<byte>.Shared.Rent(length) : GC.AllocateUninitializedArray<byte>(length);

    static void Release(byte[] buffer, bool pooled)
    {
        if (pooled) ArrayPool<byte>.Shared.Return(buffer);
    }
}

/// <summary>A frame whose body may live in a pooled buffer; <see cref="Dispose"/> returns it.</summary>
public readonly struct PooledFrame(FrameType type, byte[] buffer, int length, bool pooled) : IDisposable
{
    public FrameType Type { get; } = type;
    public byte[] Buffer { get; } = buffer;
    public int Length { get; } = length;
    public ReadOnlyMemory<byte> Body => Buffer.AsMemory(0, Length);
    public void Dispose()
    {
        if (pooled) System.Buffers.ArrayPool<byte>.Shared.Return(Buffer);
    }
}
