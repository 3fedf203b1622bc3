using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Reading durable records, from any thread while the writer goes on: a read takes a snapshot of the files under the
/// gate and pins each file while it reads it. Apart from the writer's side because its correctness rests on that
/// snapshot and pin, not on the writer's order of steps.
/// </summary>
public sealed partial class SegmentLog
{
    /// <summary>
    /// Reads durable records <paramref name="fromSequence"/>..<paramref name="throughSequence"/> (capped at
    /// <see cref="DurableSequence"/> at the time of the call) in order, verifying each frame's hash. Throws
    /// <see cref="SequenceNotHeldException"/> if <paramref name="fromSequence"/> was trimmed, and
    /// <see cref="SegmentCorruptException"/> (file, offset, sequence) on a damaged frame. Each record is a fresh array, or one from
    /// <c>allocate</c>.
    /// </summary>
    /// <param name="fromSequence">First sequence to read.</param>
    /// <param name="throughSequence">Last sequence to read (capped at the durable one).</param>
    /// <param name="allocate">
    /// Where each record goes: given a length, returns an array at least that long (a pool's rent, whose array the caller
    /// then owns and returns); the record is read from the file straight into it. Null: a fresh array of exactly the
    /// record's length.
    /// </param>
    /// <param name="verifyOwnWrites">
    /// False: frames this log wrote itself since it was opened are not hashed again, for a caller whose records are
    /// verified downstream anyway (the spool's forwarder: the master target checks each delta's own checksum before it
    /// stores anything). Frames a recovery found, after a crash or a restart, are verified always.
    /// </param>
    public IEnumerable<(long Sequence, ReadOnlyMemory<byte> Record)> Read(long fromSequence, long throughSequence = long.MaxValue, Func<int, byte[]>? allocate = null, bool verifyOwnWrites = true)
        => ReadLocated(fromSequence, throughSequence, allocate, verifyOwnWrites).Select(r => (r.Sequence, r.Record));

    /// <summary>
    /// Like <see cref="Read"/>, but each record comes with its <see cref="RecordLocation"/>, which
    /// <see cref="ReadAt"/> can later use to fetch that one record without scanning (point-in-time indexes keep it).
    /// </summary>
    public IEnumerable<LocatedRecord> ReadLocated(long fromSequence, long throughSequence = long.MaxValue, Func<int, byte[]>? allocate = null, bool verifyOwnWrites = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromSequence, 1);
        List<FileView> views;
        long through;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            through = Math.Min(throughSequence, _durableSequence);
            if (fromSequence > through) return [];
            var first = FirstHeldLocked();
            if (first == 0 || fromSequence < first) throw new SequenceNotHeldException(fromSequence, first, _durableSequence);
            views = [];
            foreach (var f in _files)
                if (f.DurableCount > 0 && f.Last >= fromSequence && f.First <= through)
                {
                    var (startSeq, startOffset) = (f.First, 0L);
                    foreach (var entry in f.Index)
                    {
                        if (entry.Sequence > fromSequence || entry.Offset >= f.DurableLength) break;
                        (startSeq, startOffset) = entry;
                    }
                    views.Add(new FileView(f, f.First, f.DurableCount, f.DurableLength, startSeq, startOffset, f.Seed, verifyOwnWrites ? long.MaxValue : f.WrittenFrom));
                }
        }
        return ReadFilesLocated(views, fromSequence, through, allocate);
    }

    private IEnumerable<LocatedRecord> ReadFilesLocated(List<FileView> views, long from, long through, Func<int, byte[]>? allocate)
    {
        // A read into the caller's arrays needs no read-ahead buffer: only a frame header waits in it.
        var bufferBytes = allocate is null ? _options.ReadBufferBytes : 2 * SegmentFrame.HeaderSize;
        foreach (var view in views)
        {
            var (handle, path) = OpenPinned(view.File);
            try
            {
                using (handle)
                using (var reader = new FrameReader(handle, view.Length, bufferBytes, _options.MaxRecordBytes, view.Seed, view.StartOffset, view.TrustedFrom))
                {
                    var seq = view.StartSequence;
                    for (long k = view.StartSequence - view.First; k < view.Count && seq <= through; k++, seq++)
                    {
                        var offset = reader.Position;
                        var record = ReadOne(reader, path, seq, keep: seq >= from, allocate);
                        if (record is { } r) yield return new LocatedRecord(seq, new RecordLocation(view.First, offset), r);
                    }
                }
            }
            finally
            {
                Unpin(view.File);
            }
        }
    }

    /// <summary>
    /// Reads the one durable record at <paramref name="location"/> (from <see cref="ReadLocated"/>), verifying its frame
    /// hash. Throws <see cref="SequenceNotHeldException"/> when its file was trimmed and <see cref="SegmentCorruptException"/>
    /// when the frame there is damaged or the location is not a frame boundary of a durable record.
    /// </summary>
    public byte[] ReadAt(RecordLocation location, long sequence)
    {
        FileView view;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var f = _files.Find(x => x.First == location.SegmentFirst);
            if (f is null || sequence < f.First || sequence > f.Last)
                throw new SequenceNotHeldException(sequence, FirstHeldLocked(), _durableSequence);
            view = new FileView(f, f.First, f.DurableCount, f.DurableLength, f.First, 0, f.Seed, long.MaxValue);
        }
        var (handle, path) = OpenPinned(view.File);
        try
        {
            using var _ = handle;
            Span<byte> header = stackalloc byte[SegmentFrame.HeaderSize];
            if (location.Offset < 0 || location.Offset + SegmentFrame.HeaderSize > view.Length
                || RandomAccess.Read(handle, header, location.Offset) != SegmentFrame.HeaderSize)
                throw new SegmentCorruptException(path, location.Offset, sequence, "no frame header at this location");
            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(header);
            var hash = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(header[4..]);
            if (length == 0 || length > _options.MaxRecordBytes || location.Offset + SegmentFrame.HeaderSize + length > view.Length)
                throw new SegmentCorruptException(path, location.Offset, sequence, Describe(FrameStatus.BadLength, length));
            var record = GC.AllocateUninitializedArray<byte>((int)length);
            var got = 0;
            while (got < record.Length)
            {
                var n = RandomAccess.Read(handle, record.AsSpan(got), location.Offset + SegmentFrame.HeaderSize + got);
                if (n == 0) throw new SegmentCorruptException(path, location.Offset, sequence, Describe(FrameStatus.Torn, length));
                got += n;
            }
            if (!SegmentFrame.Matches(record, hash, view.Seed))
                throw new SegmentCorruptException(path, location.Offset, sequence, Describe(FrameStatus.BadChecksum, length));
            return record;
        }
        finally
        {
            Unpin(view.File);
        }
    }

    private static ReadOnlyMemory<byte>? ReadOne(FrameReader reader, string path, long sequence, bool keep, Func<int, byte[]>? allocate)
    {
        var offset = reader.Position;
        if (allocate is not null)
        {
            // A record skipped on the way to the first one asked for is still read and checked, into a pooled scratch array.
            var status = reader.NextInto(keep ? allocate : ArrayPool<byte>.Shared.Rent, out var array, out var length);
            if (status != FrameStatus.Record)
                throw new SegmentCorruptException(path, offset, sequence, Describe(status, reader.LastLength));
            if (keep) return array!.AsMemory(0, length);
            ArrayPool<byte>.Shared.Return(array!);
            return null;
        }
        return ReadOneCopied(reader, path, sequence, offset, keep);
    }

    private static ReadOnlyMemory<byte>? ReadOneCopied(FrameReader reader, string path, long sequence, long offset, bool keep)
    {
        var status = reader.Next(out var record);
        if (status != FrameStatus.Record)
            throw new SegmentCorruptException(path, offset, sequence, Describe(status, reader.LastLength));
        if (!keep) return null;
        // Every byte is overwritten: no need for the zeroing a plain new array costs on the hot read path.
        var copy = GC.AllocateUninitializedArray<byte>(record.Length);
        record.CopyTo(copy);
        return copy;
    }

    /// <summary>
    /// Opens a file of a read's snapshot and pins it until <see cref="Unpin"/>: a trim then deletes the file rather
    /// than parking it for reuse, so everything read through this handle is what the file held when it was opened.
    /// Under the gate, so no rotation renames the file and no trim removes it between the check and the open; a file
    /// trimmed since the snapshot is "not held".
    /// </summary>
    private (SafeFileHandle Handle, string Path) OpenPinned(SegmentFile file)
    {
        lock (_gate)
        {
            if (file.Trimmed) throw new SequenceNotHeldException(file.First, FirstHeldLocked(), _durableSequence);
            var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            file.Readers++;
            return (handle, file.Path);
        }
    }

    private void Unpin(SegmentFile file)
    {
        lock (_gate) file.Readers--;
    }
}
