namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// Reads length-prefixed frames through its own buffer, and says how many bytes it holds unread,
/// so a receiver can batch its fsyncs: commit when nothing is buffered and the socket is idle.
/// </summary>
public sealed class FrameReader(Stream stream, int bufferSize = 1 << 20)
{
    readonly byte[] _buffer = new byte[bufferSize];
    int _start;
    int _end;

    /// <summary>
    /// The largest frame this reader accepts. A session starts with <see cref="FrameHeader.MaxControlFrame"/> until its
    /// hello is answered (the session handshake in src/Connections), then takes the wire's <see cref="FrameIo.MaxFrame"/> for deltas.
    /// </summary>
    public int MaxFrame { get; set; } = FrameIo.MaxFrame;

    /// <summary>Bytes received but not yet returned as frames.</summary>
    public int BufferedBytes => _end - _start;

    async ValueTask<bool> FillAsync(int needed, CancellationToken ct)
    {
        while (_end - _start < needed)
        {
            if (_start > 0 && (_buffer.Length - _end) < needed)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            var n = await stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0) return false;
            _end += n;
        }
        return true;
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
        var (length, type) = FrameHeader.Parse(_buffer.AsSpan(_start, FrameHeader.Size), MaxFrame);
        _start += FrameHeader.Size;
        var body = pooled ? System.Buffers.ArrayPool<byte>.Shared.Rent(length) : GC.AllocateUninitializedArray<byte>(length);
        var have = Math.Min(length, _end - _start);
        Buffer.BlockCopy(_buffer, _start, body, 0, have);
        _start += have;
        if (have < length)
        {
            // The rest goes straight into the body: large frames are not copied twice.
            await stream.ReadExactlyAsync(body.AsMemory(have, length - have), ct).ConfigureAwait(false);
        }
        if (_start == _end) _start = _end = 0;
        return new PooledFrame(type, body, length, pooled);
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
