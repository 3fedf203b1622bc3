using System.Buffers;
using System.Buffers.Binary;

namespace SiteRecovery.Connections;

/// <summary>
/// The stream beneath <see cref="System.Net.Security.SslStream"/> on a TLS hop: it gathers the TLS records of one write
/// (records of at most 16 KiB of data, which SslStream writes to its inner stream one or two at a time) into large socket
/// sends, and reads ahead so that one socket receive feeds many records. In the clear a 1 MiB frame costs a send and a
/// receive or two; through SslStream alone it costs 33 sends and as many receives or more, each receive waking the
/// reading side once more. Nothing about the records changes: this
/// stream only moves the bytes SslStream produced and consumed, so TLS is exactly as strong as without it.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Nothing waits in the write buffer once a write has returned: records are gathered only while
/// <see cref="Gather"/> is set, which <see cref="GatheringSslStream"/> does for the length of one write of its caller and
/// then sends what was gathered. Everything else SslStream writes (the handshake, alerts, a key update) goes out at once,
/// and a caller never has to flush for its bytes to leave, exactly as with SslStream on the socket.</item>
/// <item>Reading never hands SslStream bytes past the end of the TLS record it is reading: what has arrived beyond that
/// record stays here, counted by <see cref="BufferedBytes"/>, so "has more arrived?" (<see cref="HopConnection.DataAvailable"/>,
/// the receivers' commit-when-idle) sees it. SslStream itself then holds at most the one record it is decrypting, and
/// of its data what the caller has not taken yet (the start of the next frame, say): unseen, that can make a receiver
/// commit one frame early, never wait for bytes that are not coming.</item>
/// <item>Buffers are rented only while they hold bytes (the read side waits for the socket to be readable with no buffer),
/// so an idle or silent connection holds none; what a connection holds is at most <see cref="BufferBytes"/> each way.</item>
/// <item>One reader and one writer at a time, as SslStream uses its inner stream; writes and flushes are serialized
/// among themselves, since SslStream may answer a post-handshake message from its read side.</item>
/// </list>
/// </remarks>
public sealed class TlsTransport(Stream inner) : Stream
{
    /// <summary>
    /// The most gathered before a send, and the most one receive takes: sixteen full records, so a 1 MiB frame is about
    /// five sends and as many receives instead of dozens, for at most this much memory each way per busy connection
    /// (not tuned further: the sends and receives it leaves are a small part of what TLS costs, docs/performance.md).
    /// </summary>
    public const int BufferBytes = 256 << 10;

    // A TLS record header: content type (1), legacy version (2), length of what follows (2, big-endian).
    const int RecordHeader = 5;

    readonly SemaphoreSlim _writing = new(1, 1);
    byte[]? _out;
    int _outLength;

    byte[]? _in;
    int _inStart;
    int _inEnd;
    // Bytes of the current record not yet handed to SslStream; 0 at a record boundary.
    int _recordLeft;

    /// <summary>
    /// While set, writes are gathered until a flush (or until the buffer is full); while clear, every write goes out at
    /// once. Set only by <see cref="GatheringSslStream"/> for the length of one of its caller's writes, which it ends with
    /// a flush; read under the write lock, so a write of SslStream's own that finds it set is sent by that flush.
    /// </summary>
    internal bool Gather { get; set; }

    /// <summary>Bytes received from the socket that SslStream has not read yet (whole records and parts of one).</summary>
    public int BufferedBytes => Volatile.Read(ref _inEnd) - Volatile.Read(ref _inStart);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    // ---- reading ----

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (NeedsFill())
        {
            var into = RentIn();
            int n;
            try { n = inner.Read(into, _inEnd, into.Length - _inEnd); }
            catch { ReturnInIfEmpty(); throw; }
            if (!Received(n)) break;
        }
        return Serve(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.IsEmpty)
        {
            // A zero-byte read waits for the peer, as on the socket: SslStream passes its caller's down here, so a reader
            // that waits with no buffer (FrameReader) has SslStream hold none either.
            if (_inEnd == _inStart) await inner.ReadAsync(Memory<byte>.Empty, ct).ConfigureAwait(false);
            return 0;
        }
        while (NeedsFill())
        {
            // Waits for the socket with no buffer held: a silent connection costs no read-ahead memory.
            if (_inEnd == _inStart) await inner.ReadAsync(Memory<byte>.Empty, ct).ConfigureAwait(false);
            var into = RentIn();
            int n;
            try { n = await inner.ReadAsync(into.AsMemory(_inEnd), ct).ConfigureAwait(false); }
            catch { ReturnInIfEmpty(); throw; }
            if (!Received(n)) break;
        }
        return Serve(buffer.Span);
    }

    /// <summary>Whether a receive must come first: nothing is here, or a record starts here without its whole header.</summary>
    bool NeedsFill() => _inEnd == _inStart || (_recordLeft == 0 && _inEnd - _inStart < RecordHeader);

    byte[] RentIn()
    {
        if (_in is null) { _in = ArrayPool<byte>.Shared.Rent(BufferBytes); _inStart = _inEnd = 0; }
        else if (_inStart > 0)
        {
            // Only a partial record header is left (see NeedsFill): move it to the front to receive after it.
            Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
            Volatile.Write(ref _inEnd, _inEnd - _inStart);
            Volatile.Write(ref _inStart, 0);
        }
        return _in;
    }

    /// <summary>Takes in <paramref name="n"/> received bytes; false at the end of the stream.</summary>
    bool Received(int n)
    {
        if (n > 0) { Volatile.Write(ref _inEnd, _inEnd + n); return true; }
        ReturnInIfEmpty();
        return false;
    }

    /// <summary>Hands SslStream what is here, never past the end of the record it is reading.</summary>
    int Serve(Span<byte> into)
    {
        var have = _inEnd - _inStart;
        if (have == 0) return 0;
        if (_recordLeft == 0 && have >= RecordHeader)
            _recordLeft = RecordHeader + BinaryPrimitives.ReadUInt16BigEndian(_in!.AsSpan(_inStart + 3, 2));
        // Fewer than a header's bytes at a record boundary happens only at the end of the stream: hand them over as they are.
        var n = Math.Min(into.Length, _recordLeft == 0 ? have : Math.Min(have, _recordLeft));
        _in!.AsSpan(_inStart, n).CopyTo(into);
        if (_recordLeft > 0) _recordLeft -= n;
        Volatile.Write(ref _inStart, _inStart + n);
        ReturnInIfEmpty();
        return n;
    }

    void ReturnInIfEmpty()
    {
        if (_in is null || _inEnd != _inStart) return;
        var held = _in;
        _in = null;
        Volatile.Write(ref _inStart, 0);
        Volatile.Write(ref _inEnd, 0);
        ArrayPool<byte>.Shared.Return(held);
    }

    // ---- writing ----

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _writing.Wait();
        try
        {
            if (!Gather || _outLength + buffer.Length > BufferBytes) SendGathered();
            if (!Gather || buffer.Length >= BufferBytes) inner.Write(buffer);
            else Append(buffer);
        }
        finally { _writing.Release(); }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        await _writing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!Gather || _outLength + buffer.Length > BufferBytes) await SendGatheredAsync(ct).ConfigureAwait(false);
            if (!Gather || buffer.Length >= BufferBytes) await inner.WriteAsync(buffer, ct).ConfigureAwait(false);
            else Append(buffer.Span);
        }
        finally { _writing.Release(); }
    }

    void Append(ReadOnlySpan<byte> bytes)
    {
        _out ??= ArrayPool<byte>.Shared.Rent(BufferBytes);
        bytes.CopyTo(_out.AsSpan(_outLength));
        _outLength += bytes.Length;
    }

    public override void Flush()
    {
        _writing.Wait();
        try
        {
            SendGathered();
            inner.Flush();
        }
        finally { _writing.Release(); }
    }

    public override async Task FlushAsync(CancellationToken ct)
    {
        await _writing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await SendGatheredAsync(ct).ConfigureAwait(false);
            await inner.FlushAsync(ct).ConfigureAwait(false);
        }
        finally { _writing.Release(); }
    }

    // A send that fails leaves the connection unusable (SslStream's record sequence has a gap): the bytes are dropped.
    void SendGathered()
    {
        if (_out is not { } held) return;
        var length = _outLength;
        _out = null;
        _outLength = 0;
        try { inner.Write(held, 0, length); }
        finally { ArrayPool<byte>.Shared.Return(held); }
    }

    async ValueTask SendGatheredAsync(CancellationToken ct)
    {
        if (_out is not { } held) return;
        var length = _outLength;
        _out = null;
        _outLength = 0;
        try { await inner.WriteAsync(held.AsMemory(0, length), ct).ConfigureAwait(false); }
        finally { ArrayPool<byte>.Shared.Return(held); }
    }

    /// <summary>
    /// Closes the socket's stream. Anything still gathered (only after a write that failed) is dropped, not sent: a send
    /// here could block behind a peer that reads no more, and the connection is being given up anyway.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
