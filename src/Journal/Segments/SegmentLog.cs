using Microsoft.Win32.SafeHandles;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Append-only, per-disk log of records in segment files: the process server's durable spool and the master
/// target's retention journal. Each record is framed (u32 length, u64 XxHash3, bytes) and record sequences are
/// consecutive, so a file's name (its first sequence) plus a record's position give every record's sequence.
/// </summary>
/// <remarks>
/// Thread-safety: <see cref="Append"/>, <see cref="Flush"/> and <see cref="Dispose"/> belong to one writer thread
/// (or must be externally serialized). <see cref="Read"/>, <see cref="TrimThrough"/> and all properties are safe
/// from any thread at any time, concurrently with the writer. A <see cref="Read"/> sees a snapshot of what was
/// durable (flushed) when it was called; it never sees buffered, unflushed records. A file a reader has open is never
/// reused under it (a trim deletes it instead of parking it), so the reader goes on reading what the file held; a file
/// trimmed before the reader opens it ends the read with <see cref="SequenceNotHeldException"/>. A second writer on the same
/// directory (this or another process) is refused by an exclusive <c>log.lock</c> file.
/// </remarks>
public sealed partial class SegmentLog : IDisposable
{
    /// <summary>Name of the lock file that keeps a second writer out of the directory.</summary>
    public const string LockFileName = "log.lock";

    /// <summary>One file of the log as readers see it; mutated only under <see cref="_gate"/>.</summary>
    private sealed class SegmentFile(long first, string path, bool salted)
    {
        public long First { get; } = first;
        /// <summary>Frames hashed with <see cref="First"/> as seed (a file of a log that reuses files).</summary>
        public bool Salted { get; } = salted;
        public long Seed => Salted ? First : 0;
        public string Path { get; set; } = path;
        public bool Sealed { get; set; }
        public long DurableCount { get; set; }
        public long DurableLength { get; set; }
        public long Last => First + DurableCount - 1;
        /// <summary>Every <see cref="IndexEvery"/>-th record appended since open: (sequence, byte offset), ascending.</summary>
        public List<(long Sequence, long Offset)> Index { get; } = [];
        /// <summary>Readers holding the file open (see <see cref="OpenPinned"/>); a trimmed file with readers is never reused.</summary>
        public int Readers { get; set; }
        /// <summary>Removed from the log by a trim: no reader may open it any more.</summary>
        public bool Trimmed { get; set; }
    }

    /// <summary>
    /// Records between index entries. A reader that starts mid-file seeks to the nearest entry at or
    /// before its first sequence instead of verifying every frame from the start of the file.
    /// </summary>
    private const int IndexEvery = 64;

    private readonly record struct FileView(SegmentFile File, long First, long Count, long Length, long StartSequence, long StartOffset, long Seed);

    private readonly string _directory;
    private readonly SegmentLogOptions _options;
    private readonly FileStream _lock;
    private readonly object _gate = new();
    private readonly object _trimGate = new();
    private readonly List<SegmentFile> _files = []; // ascending by First; the last one is the active file
    private readonly byte[] _writeBuffer;
    private int _buffered;
    private SafeFileHandle? _active;
    private long _activeCount;  // records appended to the active file, buffered ones included
    private long _activeBytes;  // bytes appended to the active file, buffered ones included
    private long _activeOnDisk; // bytes handed to the OS for the active file (fsynced or not)
    private long _activeSeed;   // hash seed of the active file's frames
    private bool _activeReused; // the active file is a reused one: past _activeOnDisk it holds its earlier life's bytes
    private readonly Queue<string> _free = new(); // parked files for reuse, oldest first; under _trimGate
    private long _nextFreeId;
    private long _lastSequence;
    private long _durableSequence;
    private bool _faulted;
    private bool _disposed;

    private SegmentLog(string directory, SegmentLogOptions options, FileStream lockFile)
    {
        _directory = directory;
        _options = options;
        _lock = lockFile;
        _writeBuffer = new byte[options.WriteBufferBytes];
        Recovery = null!;
    }

    /// <summary>The directory holding the segment files.</summary>
    public string Directory => _directory;

    /// <summary>What recovery found and repaired when the log was opened.</summary>
    public RecoveryReport Recovery { get; private set; }

    /// <summary>Highest sequence appended (buffered or not); 0 before the first append of a new log at sequence 1.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>Highest sequence made durable by <see cref="Flush"/> (or a rotation, or recovery).</summary>
    public long DurableSequence
    {
        get { lock (_gate) return _durableSequence; }
    }

    /// <summary>Lowest sequence still held, or 0 when the log holds no records (empty or everything trimmed).</summary>
    public long FirstSequence
    {
        get { lock (_gate) return FirstHeldLocked(); }
    }

    /// <summary>Bytes of segment files on disk (sealed files plus what has been written to the active file).</summary>
    public long SizeBytes
    {
        get
        {
            lock (_gate)
            {
                long total = Volatile.Read(ref _activeOnDisk);
                foreach (var f in _files) if (f.Sealed) total += f.DurableLength;
                return total;
            }
        }
    }

    /// <summary>
    /// Opens (creating if needed) the log in <paramref name="directory"/> and recovers it: verifies frames, cuts a torn
    /// or corrupt tail off the active file (see <see cref="Recovery"/>), finishes an interrupted rotation, and refuses
    /// with <see cref="SegmentCorruptException"/> damage anywhere else.
    /// </summary>
    public static SegmentLog Open(string directory, SegmentLogOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new SegmentLogOptions();
        options.Validate();
        directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(directory);

        var lockPath = Path.Combine(directory, LockFileName);
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"segment log '{directory}' is already open by another writer (lock file '{lockPath}' is held)", e);
        }

        var log = new SegmentLog(directory, options, lockFile);
        try
        {
            log.Recover();
            return log;
        }
        catch
        {
            log._active?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Appends one record as <paramref name="sequence"/>, which must be exactly <see cref="LastSequence"/> + 1
    /// (else <see cref="AppendSequenceGapException"/>). Buffered: durable only after <see cref="Flush"/>.
    /// Returns where the record is, as <see cref="ReadLocated"/> would report it.
    /// </summary>
    public RecordLocation Append(ReadOnlySpan<byte> record, long sequence)
    {
        ThrowIfUnusable();
        var expected = _lastSequence + 1;
        if (sequence != expected) throw new AppendSequenceGapException(expected, sequence);
        if (record.Length == 0) throw new ArgumentException("a record cannot be empty", nameof(record));
        if (record.Length > _options.MaxRecordBytes)
            throw new ArgumentException($"record of {record.Length} bytes exceeds the {_options.MaxRecordBytes}-byte maximum", nameof(record));

        var frame = SegmentFrame.HeaderSize + record.Length;
        try
        {
            if (frame > _writeBuffer.Length - _buffered) WriteBuffer();
            if (frame > _writeBuffer.Length)
            {
                // Bigger than the buffer: write it straight through rather than growing the buffer.
                Span<byte> header = stackalloc byte[SegmentFrame.HeaderSize];
                SegmentFrame.WriteHeader(header, record, _activeSeed);
                WriteToActive(header);
                WriteToActive(record);
            }
            else
            {
                SegmentFrame.WriteHeader(_writeBuffer.AsSpan(_buffered), record, _activeSeed);
                record.CopyTo(_writeBuffer.AsSpan(_buffered + SegmentFrame.HeaderSize));
                _buffered += frame;
            }
        }
        catch
        {
            // After a failed write the file's tail is unknown; only a reopen (recovery) can tell what survived.
            _faulted = true;
            throw;
        }

        if (_activeCount > 0 && _activeCount % IndexEvery == 0)
            lock (_gate) _files[^1].Index.Add((sequence, _activeBytes));
        var location = new RecordLocation(sequence - _activeCount, _activeBytes);
        _activeCount++;
        _activeBytes += frame;
        Volatile.Write(ref _lastSequence, sequence);
        if (_activeBytes >= _options.SegmentBytes) Rotate();
        return location;
    }

    /// <summary>
    /// Writes buffered records and fsyncs the active file once (group commit). When it returns, everything up to
    /// <see cref="LastSequence"/> is durable and visible to readers.
    /// </summary>
    public void Flush()
    {
        ThrowIfUnusable();
        if (_durableSequence == _lastSequence && _buffered == 0) return;
        try
        {
            WriteBuffer();
        }
        catch
        {
            _faulted = true;
            throw;
        }
        try
        {
            _options.FileIo.FlushToDisk(_active!);
        }
        catch
        {
            // A failed fsync may have dropped dirty pages; retrying could falsely report success.
            _faulted = true;
            FaultedInFsync = true;
            throw;
        }
        lock (_gate)
        {
            var active = _files[^1];
            active.DurableCount = _activeCount;
            active.DurableLength = _activeBytes;
            _durableSequence = _lastSequence;
        }
    }

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
    /// Where each record's copy goes: given a length, returns an array at least that long (a pool's rent, whose array
    /// the caller then owns and returns). Null: a fresh array of exactly the record's length.
    /// </param>
    public IEnumerable<(long Sequence, ReadOnlyMemory<byte> Record)> Read(long fromSequence, long throughSequence = long.MaxValue, Func<int, byte[]>? allocate = null)
        => ReadLocated(fromSequence, throughSequence, allocate).Select(r => (r.Sequence, r.Record));

    /// <summary>
    /// Like <see cref="Read"/>, but each record comes with its <see cref="RecordLocation"/>, which
    /// <see cref="ReadAt"/> can later use to fetch that one record without scanning (point-in-time indexes keep it).
    /// </summary>
    public IEnumerable<LocatedRecord> ReadLocated(long fromSequence, long throughSequence = long.MaxValue, Func<int, byte[]>? allocate = null)
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
                    views.Add(new FileView(f, f.First, f.DurableCount, f.DurableLength, startSeq, startOffset, f.Seed));
                }
        }
        return ReadFilesLocated(views, fromSequence, through, allocate);
    }

    private IEnumerable<LocatedRecord> ReadFilesLocated(List<FileView> views, long from, long through, Func<int, byte[]>? allocate)
    {
        foreach (var view in views)
        {
            var (handle, path) = OpenPinned(view.File);
            try
            {
                using (handle)
                using (var reader = new FrameReader(handle, view.Length, _options.ReadBufferBytes, _options.MaxRecordBytes, view.Seed, view.StartOffset))
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
            view = new FileView(f, f.First, f.DurableCount, f.DurableLength, f.First, 0, f.Seed);
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

    /// <summary>
    /// Deletes sealed files whose last sequence is ≤ <paramref name="sequence"/> (spool acknowledged downstream, or
    /// retention expired), or parks them for reuse (<see cref="SegmentLogOptions.RecycleSegments"/>). Never removes a
    /// file holding anything above <paramref name="sequence"/>, and never the active file, so trimming is by whole
    /// files. Returns how many files were removed from the log.
    /// </summary>
    public int TrimThrough(long sequence)
    {
        lock (_trimGate)
        {
            List<(string Path, bool Open)> victims = [];
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                // Removing from the index first makes concurrent readers report "not held" instead of racing the delete.
                // Whether a reader still has the file open is decided here too, under the gate readers open files under.
                while (_files.Count > 0 && _files[0].Sealed && _files[0].Last <= sequence)
                {
                    var f = _files[0];
                    f.Trimmed = true;
                    victims.Add((f.Path, f.Readers > 0));
                    _files.RemoveAt(0);
                }
            }
            foreach (var (path, open) in victims)
            {
                // A file a reader still has open is deleted, never parked: reused, its next life would be written under
                // the reader's handle (the handle follows the file through renames), and the reader would find frames
                // of another life where its records were. Deleted, the reader keeps reading what the file held.
                if (!open && _free.Count < _options.RecycleSegments)
                {
                    // A parked file is not a segment to recovery, so renaming it away is as final as deleting it.
                    var parked = Path.Combine(_directory, SegmentFileName.Free(++_nextFreeId));
                    File.Move(path, parked);
                    _free.Enqueue(parked);
                }
                else File.Delete(path);
                // One directory fsync per file keeps removals in order, so a crash cannot leave a gap at the front.
                DirectorySync.Flush(_directory);
            }
            return victims.Count;
        }
    }

    /// <summary>Flushes (unless a write already failed) and closes the log, releasing the directory lock.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            if (!_faulted && _active is not null)
            {
                Flush();
                // A clean close leaves no earlier life's bytes behind the records, so the next open has nothing to cut.
                CutReusedTail();
            }
        }
        finally
        {
            lock (_gate) _disposed = true;
            _active?.Dispose();
            _lock.Dispose();
        }
    }

    private static ReadOnlyMemory<byte>? ReadOne(FrameReader reader, string path, long sequence, bool keep, Func<int, byte[]>? allocate)
    {
        var offset = reader.Position;
        var status = reader.Next(out var record);
        if (status != FrameStatus.Record)
            throw new SegmentCorruptException(path, offset, sequence, Describe(status, reader.LastLength));
        if (!keep) return null;
        // Every byte is overwritten: no need for the zeroing a plain new array costs on the hot read path.
        var copy = allocate?.Invoke(record.Length) ?? GC.AllocateUninitializedArray<byte>(record.Length);
        if (copy.Length < record.Length) throw new ArgumentException($"the allocator gave {copy.Length} bytes for a {record.Length}-byte record", nameof(allocate));
        record.CopyTo(copy);
        return copy.AsMemory(0, record.Length);
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

    private void Rotate()
    {
        Flush();
        var active = _files[^1];
        var last = active.First + _activeCount - 1;
        var sealedPath = Path.Combine(_directory, SegmentFileName.Sealed(active.First, last, active.Salted));
        var nextFirst = last + 1;
        var salted = _options.RecycleSegments > 0;
        var nextPath = Path.Combine(_directory, SegmentFileName.Open(nextFirst, salted));
        try
        {
            // A sealed file must end at its last record: recovery reads sealed files to their end.
            CutReusedTail();
            _active!.Dispose();
            _active = null;
            // Rename and index update together, under the gate readers open files under: a reader opens one name or the other.
            lock (_gate)
            {
                File.Move(active.Path, sealedPath);
                active.Path = sealedPath;
                active.Sealed = true;
            }
            // The rename must be durable before the next .open exists, so recovery never sees two overlapping files.
            DirectorySync.Flush(_directory);
            string? reuse;
            lock (_trimGate) _free.TryDequeue(out reuse);
            if (reuse is not null)
            {
                // Its old frames stay in it until overwritten; the new seed makes them fail their hash.
                File.Move(reuse, nextPath);
                _active = File.OpenHandle(nextPath, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
                _activeReused = RandomAccess.GetLength(_active) > 0;
            }
            else
            {
                _active = File.OpenHandle(nextPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete);
                _activeReused = false;
            }
            DirectorySync.Flush(_directory);
        }
        catch
        {
            _faulted = true;
            throw;
        }
        _activeCount = _activeBytes = 0;
        Volatile.Write(ref _activeOnDisk, 0);
        _activeSeed = salted ? nextFirst : 0;
        lock (_gate) _files.Add(new SegmentFile(nextFirst, nextPath, salted));
    }

    /// <summary>Cuts a reused active file back to its records and makes that durable.</summary>
    private void CutReusedTail()
    {
        if (!_activeReused) return;
        RandomAccess.SetLength(_active!, _activeOnDisk);
        RandomAccess.FlushToDisk(_active!);
        _activeReused = false;
    }

    private void WriteBuffer()
    {
        if (_buffered == 0) return;
        WriteToActive(_writeBuffer.AsSpan(0, _buffered));
        _buffered = 0;
    }

    private void WriteToActive(ReadOnlySpan<byte> bytes)
    {
        _options.FileIo.Write(_active!, bytes, _activeOnDisk);
        Volatile.Write(ref _activeOnDisk, _activeOnDisk + bytes.Length);
    }

    private long FirstHeldLocked() => _files.Count > 0 && _files[0].First <= _lastSequence ? _files[0].First : 0;

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_faulted) throw new InvalidOperationException($"segment log '{_directory}' had a failed write or fsync; reopen it to recover");
    }

    private static string Describe(FrameStatus status, long length) => status switch
    {
        FrameStatus.End => "file ends before the frame",
        FrameStatus.Torn => "frame extends past the end of the file (torn write)",
        FrameStatus.BadLength => $"frame length {length} is zero or above the maximum record size",
        FrameStatus.BadChecksum => "frame hash does not match the record bytes",
        _ => status.ToString(),
    };

    // ---- recovery -------------------------------------------------------------------------------------------

    private readonly record struct Found(long First, long Last, bool Sealed, string Path, bool Salted)
    {
        public long Seed => Salted ? First : 0;
    }

    private readonly record struct ScanResult(long Count, long ValidLength, long FileLength, FrameStatus Stop, long BadLength);

    private ScanResult Scan(string path, long seed)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        using var reader = new FrameReader(handle, length, _options.ReadBufferBytes, _options.MaxRecordBytes, seed);
        long count = 0;
        FrameStatus status;
        while ((status = reader.Next(out _)) == FrameStatus.Record) count++;
        return new ScanResult(count, reader.Position, length, status, reader.LastLength);
    }

    /// <summary>Scans a file that must be entirely valid (sealed, or fsynced before a later file was created).</summary>
    private long ScanStrict(string path, long first, long expectedCount, long seed)
    {
        var scan = Scan(path, seed);
        if (scan.Stop != FrameStatus.End)
            throw new SegmentCorruptException(path, scan.ValidLength, first + scan.Count, Describe(scan.Stop, scan.BadLength));
        if (expectedCount >= 0 && scan.Count != expectedCount)
            throw new SegmentCorruptException(path, scan.ValidLength, first + scan.Count,
                $"file holds {scan.Count} records but its name says {expectedCount}");
        return scan.Count;
    }

    private void Recover()
    {
        var actions = new List<string>();
        var found = new List<Found>();
        var parked = new List<(long Id, string Path)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(_directory))
        {
            var name = Path.GetFileName(path);
            if (SegmentFileName.TryParse(name, out var first, out var last, out var isSealed, out var salted))
                found.Add(new Found(first, last, isSealed, path, salted));
            else if (SegmentFileName.TryParseFree(name, out var id))
                parked.Add((id, path));
        }
        // Parked files are kept for reuse up to the configured number; the rest (recycling turned down or off) go.
        parked.Sort((a, b) => a.Id.CompareTo(b.Id));
        foreach (var (id, path) in parked)
        {
            _nextFreeId = Math.Max(_nextFreeId, id);
            if (_free.Count < _options.RecycleSegments) _free.Enqueue(path);
            else
            {
                File.Delete(path);
                actions.Add($"deleted parked file '{path}' (recycle-segments is {_options.RecycleSegments})");
            }
        }
        found.Sort((a, b) => a.First.CompareTo(b.First));
        for (var i = 1; i < found.Count; i++)
            if (found[i].First == found[i - 1].First)
                throw new SegmentCorruptException(found[i].Path, 0, found[i].First, $"starts at the same sequence as '{found[i - 1].Path}'");

        string? truncatedFile = null;
        long truncatedAt = 0, bytesCut = 0;
        string? reason = null;

        for (var i = 0; i < found.Count; i++)
        {
            var f = found[i];
            var isLast = i == found.Count - 1;
            if (f.Sealed)
            {
                var count = f.Last - f.First + 1;
                long length;
                if (_options.VerifySealedOnOpen || isLast)
                {
                    ScanStrict(f.Path, f.First, count, f.Seed);
                    length = new FileInfo(f.Path).Length;
                }
                else
                {
                    length = new FileInfo(f.Path).Length;
                }
                AddRecovered(f.First, f.Path, f.Salted, true, count, length);
            }
            else if (!isLast)
            {
                // An active file left behind by an interrupted rotation: it was fsynced before any later file existed.
                var count = ScanStrict(f.Path, f.First, -1, f.Seed);
                if (count == 0)
                {
                    File.Delete(f.Path);
                    actions.Add($"deleted empty leftover active file '{f.Path}'");
                    continue;
                }
                var sealedPath = Path.Combine(_directory, SegmentFileName.Sealed(f.First, f.First + count - 1, f.Salted));
                File.Move(f.Path, sealedPath);
                actions.Add($"sealed leftover active file '{f.Path}' as '{sealedPath}'");
                AddRecovered(f.First, sealedPath, f.Salted, true, count, new FileInfo(sealedPath).Length);
            }
            else
            {
                // The active file: a torn or corrupt tail is what a crash leaves behind; cut it back to the last good frame.
                var scan = Scan(f.Path, f.Seed);
                if (scan.Stop != FrameStatus.End)
                {
                    truncatedFile = f.Path;
                    truncatedAt = scan.ValidLength;
                    bytesCut = scan.FileLength - scan.ValidLength;
                    reason = $"{Describe(scan.Stop, scan.BadLength)} at sequence {f.First + scan.Count}";
                }
                using (var fs = new FileStream(f.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete))
                {
                    if (truncatedFile is not null) fs.SetLength(scan.ValidLength);
                    // Recovered bytes may have been only in the page cache if just the process died; make them durable now.
                    fs.Flush(flushToDisk: true);
                }
                AddRecovered(f.First, f.Path, f.Salted, false, scan.Count, scan.ValidLength);
            }
        }

        for (var i = 1; i < _files.Count; i++)
        {
            var prev = _files[i - 1];
            if (_files[i].First != prev.Last + 1)
                throw new SegmentCorruptException(_files[i].Path, 0, _files[i].First,
                    $"does not follow '{prev.Path}' (which ends at sequence {prev.Last}): sequences {prev.Last + 1}..{_files[i].First - 1} are missing");
        }

        if (_files.Count == 0 || _files[^1].Sealed)
        {
            var first = _files.Count == 0 ? _options.InitialSequence : _files[^1].Last + 1;
            var salted = _options.RecycleSegments > 0;
            var path = Path.Combine(_directory, SegmentFileName.Open(first, salted));
            File.Create(path).Dispose();
            _files.Add(new SegmentFile(first, path, salted));
            actions.Add($"created active file '{path}'");
        }
        DirectorySync.Flush(_directory);

        var active = _files[^1];
        _active = File.OpenHandle(active.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
        _activeCount = active.DurableCount;
        _activeBytes = active.DurableLength;
        _activeOnDisk = active.DurableLength;
        _activeSeed = active.Seed;
        _activeReused = false; // recovery cut the file back to its last good frame
        _lastSequence = active.First + active.DurableCount - 1;
        _durableSequence = _lastSequence;
        Recovery = new RecoveryReport(FirstHeldLocked(), _lastSequence, truncatedFile, truncatedAt, bytesCut, reason, actions);
    }

    private void AddRecovered(long first, string path, bool salted, bool isSealed, long count, long length)
        => _files.Add(new SegmentFile(first, path, salted) { Sealed = isSealed, DurableCount = count, DurableLength = length });
}
