using System.Buffers;

namespace SiteRecovery.Connections;

/// <summary>
/// The write side of a session that sends frames in batches (<see cref="FrameSender"/>, which flushes after every send):
/// the frames' small writes (a 5-byte header, then the body) are gathered into writes of up to <c>bufferBytes</c>, as a
/// <see cref="BufferedStream"/> of that size would, so the socket (or SslStream) gets large writes. Unlike
/// BufferedStream, which allocates its buffer at the first write and keeps it until it is disposed, the buffer here is
/// rented from the shared pool at the first write and given back by the flush: a connection that is idle between sends
/// holds none. (A process server keeps one such connection to the master target per disk; a thousand idle disks each
/// keeping a megabyte was a gigabyte of the node's memory.)
/// </summary>
/// <remarks>
/// Write-only; reads go to the stream beneath directly. One writer at a time (FrameSender's lock). Disposing does not
/// close the stream beneath: the connection owns it.
/// </remarks>
public sealed class SendBuffer(Stream inner, int bufferBytes) : Stream
{
    byte[]? _buffer;
    int _length;

    /// <summary>Bytes of buffer held now: 0 after a flush (between sends).</summary>
    public int HeldBytes => _buffer?.Length ?? 0;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        if (!Gathers(data.Length))
        {
            Send();
            inner.Write(data);
            return;
        }
        var n = Gather(data);
        if (_length < bufferBytes) return;
        Send();
        Gather(data[n..]);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        if (data.IsEmpty) return;
        if (!Gathers(data.Length))
        {
            await SendAsync(ct).ConfigureAwait(false);
            await inner.WriteAsync(data, ct).ConfigureAwait(false);
            return;
        }
        var n = Gather(data.Span);
        if (_length < bufferBytes) return;
        await SendAsync(ct).ConfigureAwait(false);
        Gather(data.Span[n..]);
    }

    // BufferedStream's own rule, so the sends on the wire are the ones it made: a write is gathered (filling the buffer,
    // sending it, and gathering the rest) unless it is so large that copying it costs more than a send of its own. What
    // is left after a full buffer is sent then always fits.
    bool Gathers(int count) => _length + 2L * count < 2L * bufferBytes;

    /// <summary>Copies as much of <paramref name="data"/> as fits into the buffer (renting it first); returns how much.</summary>
    int Gather(ReadOnlySpan<byte> data)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(bufferBytes);
        var n = Math.Min(data.Length, bufferBytes - _length);
        data[..n].CopyTo(_buffer.AsSpan(_length));
        _length += n;
        return n;
    }

    public override void Flush()
    {
        Send();
        Release();
        inner.Flush();
    }

    public override async Task FlushAsync(CancellationToken ct)
    {
        await SendAsync(ct).ConfigureAwait(false);
        Release();
        await inner.FlushAsync(ct).ConfigureAwait(false);
    }

    // A send that fails leaves the buffer with the caller's bytes unsent: the connection is given up (FrameSender's callers
    // reconnect), and the buffer is left to the GC, as a write beneath may still hold it.
    void Send()
    {
        if (_length == 0) return;
        inner.Write(_buffer!, 0, _length);
        _length = 0;
    }

    async ValueTask SendAsync(CancellationToken ct)
    {
        if (_length == 0) return;
        await inner.WriteAsync(_buffer.AsMemory(0, _length), ct).ConfigureAwait(false);
        _length = 0;
    }

    void Release()
    {
        if (_buffer is not { } held) return;
        _buffer = null;
        ArrayPool<byte>.Shared.Return(held);
    }
}
