using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Journal.Segments;

/// <summary>What <see cref="FrameReader.Next"/> found at the current position.</summary>
internal enum FrameStatus
{
    /// <summary>A complete frame whose hash matches.</summary>
    Record,
    /// <summary>Exactly at the read limit: a clean end.</summary>
    End,
    /// <summary>Fewer bytes remain than the frame needs: a write cut short by a crash.</summary>
    Torn,
    /// <summary>The length field is zero or above the maximum record size.</summary>
    BadLength,
    /// <summary>The frame is complete but its hash does not match the bytes.</summary>
    BadChecksum,
}

/// <summary>
/// Sequential frame reader over a file handle with large positional reads (RandomAccess), so scanning and
/// reading do few syscalls and never share a file position with anyone. Reads stop at <c>limit</c>, which
/// lets readers see only the durable part of the active file while the writer appends past it.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _limit;
    private readonly int _maxRecord;
    private readonly long _seed;
    private readonly long _trustedFrom;
    private byte[] _buffer;
    private long _bufferFileOffset; // file offset of _buffer[0]
    private int _start, _end;       // valid unread bytes are _buffer[_start.._end)

    /// <param name="trustedFrom">
    /// Frames starting at or past this offset are not hashed again: the caller vouches for them (this process wrote them
    /// and something downstream verifies them anyway). <see cref="long.MaxValue"/>: every frame is verified.
    /// </param>
    public FrameReader(SafeFileHandle handle, long limit, int bufferBytes, int maxRecord, long seed, long startOffset = 0, long trustedFrom = long.MaxValue)
    {
        _seed = seed;
        _trustedFrom = trustedFrom;
        _bufferFileOffset = startOffset;
        _handle = handle;
        _limit = limit;
        _maxRecord = maxRecord;
        _buffer = ArrayPool<byte>.Shared.Rent(bufferBytes);
    }

    /// <summary>File offset of the next frame.</summary>
    public long Position => _bufferFileOffset + _start;

    /// <summary>Length of the frame header's length field when the last call returned BadLength/BadChecksum (for messages).</summary>
    public long LastLength { get; private set; }

    /// <summary>
    /// Reads the next frame. On <see cref="FrameStatus.Record"/> the record is <paramref name="record"/>, valid until the
    /// next call, and the position moves past it; on any other status the position stays at the bad frame.
    /// </summary>
    public FrameStatus Next(out ReadOnlySpan<byte> record)
    {
        record = default;
        var remainingInFile = _limit - Position;
        if (remainingInFile == 0) return FrameStatus.End;
        if (remainingInFile < SegmentFrame.HeaderSize || !Ensure(SegmentFrame.HeaderSize)) return FrameStatus.Torn;

        var header = _buffer.AsSpan(_start, SegmentFrame.HeaderSize);
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(header[4..]);
        LastLength = length;
        if (length == 0 || length > (uint)_maxRecord) return FrameStatus.BadLength;
        var total = SegmentFrame.HeaderSize + (int)length;
        if (remainingInFile < total || !Ensure(total)) return FrameStatus.Torn;

        var body = _buffer.AsSpan(_start + SegmentFrame.HeaderSize, (int)length);
        if (Position < _trustedFrom && !SegmentFrame.Matches(body, hash, _seed)) return FrameStatus.BadChecksum;
        record = body;
        _start += total;
        return FrameStatus.Record;
    }

    /// <summary>
    /// Like <see cref="Next"/>, but the record is read from the file straight into an array from
    /// <paramref name="allocate"/> (with the next frame's header, in one read when the array has room), not through the
    /// read-ahead buffer and a copy out of it. For readers that keep every record in an array of their own; a reader
    /// should use either this or <see cref="Next"/>, not both. On a status other than <see cref="FrameStatus.Record"/>
    /// <paramref name="array"/> is null and the position stays at the bad frame.
    /// </summary>
    public FrameStatus NextInto(Func<int, byte[]> allocate, out byte[]? array, out int length)
    {
        array = null;
        length = 0;
        var frameAt = Position;
        var remainingInFile = _limit - frameAt;
        if (remainingInFile == 0) return FrameStatus.End;
        if (remainingInFile < SegmentFrame.HeaderSize || !EnsureExactly(SegmentFrame.HeaderSize)) return FrameStatus.Torn;
        var header = _buffer.AsSpan(_start, SegmentFrame.HeaderSize);
        var recordLength = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var hash = BinaryPrimitives.ReadUInt64LittleEndian(header[4..]);
        LastLength = recordLength;
        if (recordLength == 0 || recordLength > (uint)_maxRecord) return FrameStatus.BadLength;
        var total = SegmentFrame.HeaderSize + (long)recordLength;
        if (remainingInFile < total) return FrameStatus.Torn;

        var target = allocate((int)recordLength);
        if (target.Length < recordLength) throw new ArgumentException($"the allocator gave {target.Length} bytes for a {recordLength}-byte record", nameof(allocate));
        // Bytes of the record already in the buffer (read with the header) come first; the rest, and the next frame's
        // header when it fits behind the record, come from one read into the target.
        var have = (int)Math.Min(_end - _start - SegmentFrame.HeaderSize, recordLength);
        _buffer.AsSpan(_start + SegmentFrame.HeaderSize, have).CopyTo(target);
        var nextHeader = (int)Math.Min(SegmentFrame.HeaderSize, remainingInFile - total);
        var want = target.Length - (int)recordLength >= nextHeader ? (int)recordLength + nextHeader : (int)recordLength;
        var bodyAt = frameAt + SegmentFrame.HeaderSize;
        for (var got = have; got < want;)
        {
            var n = RandomAccess.Read(_handle, target.AsSpan(got, want - got), bodyAt + got);
            if (n == 0) return FrameStatus.Torn;
            got += n;
        }
        var record = target.AsSpan(0, (int)recordLength);
        if (frameAt < _trustedFrom && !SegmentFrame.Matches(record, hash, _seed)) return FrameStatus.BadChecksum;
        // The buffer now holds nothing but, when it was read along, the next frame's header.
        _bufferFileOffset = frameAt + total;
        _start = 0;
        _end = 0;
        if (want > recordLength)
        {
            target.AsSpan((int)recordLength, want - (int)recordLength).CopyTo(_buffer);
            _end = want - (int)recordLength;
        }
        array = target;
        length = (int)recordLength;
        return FrameStatus.Record;
    }

    /// <summary>Makes at least <paramref name="count"/> unread bytes available reading only what is missing; false if the file ends first.</summary>
    private bool EnsureExactly(int count)
    {
        if (_end - _start >= count) return true;
        if (_start > 0) _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        _bufferFileOffset += _start;
        _end -= _start;
        _start = 0;
        while (_end < count)
        {
            var n = RandomAccess.Read(_handle, _buffer.AsSpan(_end, count - _end), _bufferFileOffset + _end);
            if (n == 0) return false;
            _end += n;
        }
        return true;
    }

    /// <summary>Makes at least <paramref name="count"/> unread bytes available; false if the file ends first.</summary>
    private bool Ensure(int count)
    {
        if (_end - _start >= count) return true;
        if (count > _buffer.Length)
        {
            // A record bigger than the read-ahead buffer: grow once (pooled), keeping the unread bytes.
            var bigger = ArrayPool<byte>.Shared.Rent(count);
            _buffer.AsSpan(_start, _end - _start).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        else if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        }
        _bufferFileOffset += _start;
        _end -= _start;
        _start = 0;

        while (_end < count)
        {
            var want = (int)Math.Min(_buffer.Length - _end, _limit - (_bufferFileOffset + _end));
            if (want <= 0) return false;
            var n = RandomAccess.Read(_handle, _buffer.AsSpan(_end, want), _bufferFileOffset + _end);
            if (n == 0) return false;
            _end += n;
        }
        return true;
    }

    public void Dispose()
    {
        var b = _buffer;
        _buffer = [];
        if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
    }
}
