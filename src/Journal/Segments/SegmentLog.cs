using SiteRecovery.Contracts.Storage;
using Microsoft.Win32.SafeHandles;

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
/// The class is split along those lines: this file holds the state every part shares, opening and closing; the writer's
/// side is in <c>SegmentLog.Append.cs</c>, reads in <c>.Read.cs</c>, trimming and file reuse in <c>.Reuse.cs</c>, recovery at
/// open in <c>.Recover.cs</c>, storage faults in <c>.Fault.cs</c>.
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
        /// <summary>
        /// Offset from which this log, since it was opened, wrote the file's frames itself (0: all of them); before it are
        /// frames a recovery found. <see cref="long.MaxValue"/>: none (a file recovery found whole).
        /// </summary>
        public long WrittenFrom { get; init; } = long.MaxValue;
    }

    /// <summary>
    /// Records between index entries. A reader that starts mid-file seeks to the nearest entry at or
    /// before its first sequence instead of verifying every frame from the start of the file.
    /// </summary>
    private const int IndexEvery = 64;

    private readonly record struct FileView(SegmentFile File, long First, long Count, long Length, long StartSequence, long StartOffset, long Seed, long TrustedFrom);

    private readonly string _directory;
    private readonly SegmentLogOptions _options;
    private readonly FileStream _lock;
    private readonly object _gate = new();
    private readonly object _trimGate = new();
    private readonly List<SegmentFile> _files = []; // ascending by First; the last one is the active file
    // Rented from the shared pool by the first small append after a flush and given back by the flush: an idle log (a
    // protected disk nothing writes to) holds no buffer, where a buffer of its own cost WriteBufferBytes per log.
    private byte[]? _writeBuffer;
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
        PrivateFiles.CreateDirectory(directory);

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
            ReleaseWriteBuffer();
            _active?.Dispose();
            _lock.Dispose();
        }
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
}
