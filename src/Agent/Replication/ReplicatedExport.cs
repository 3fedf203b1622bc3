using Microsoft.Win32.SafeHandles;
using SiteRecovery.Capture;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The write splitter: an NBD export over the protected disk that applies every change to the
/// source and then appends it to the disk's replication stream, both under one lock, so the
/// stream order is the order changes were applied (overlapping writes included). The NBD reply
/// is sent only after both, so a write the client saw acknowledged is always in the stream.
/// </summary>
public sealed class ReplicatedExport : INbdExport, IDisposable
{
    readonly SafeFileHandle _file;
    readonly SemaphoreSlim _writeLock = new(1, 1);

    public ReplicatedExport(string name, string path, DiskStream stream, bool trackOnOverflow = true)
        : this(name, path, stream, trackOnOverflow, activityLogExtents: 0, stateDirectory: null) { }

    /// <summary>
    /// With <paramref name="activityLogExtents"/> above 0 and a <paramref name="stateDirectory"/>, every write is first
    /// recorded in the disk's write-ahead <see cref="ActivityLog"/> (<c>&lt;disk&gt;.activity</c> there), so a crash
    /// costs a resync of the logged extents only.
    /// </summary>
    public ReplicatedExport(string name, string path, DiskStream stream, bool trackOnOverflow, int activityLogExtents, string? stateDirectory,
        int activityLogExtentBytes = ActivityLog.DefaultExtentBytes)
    {
        TrackOnOverflow = trackOnOverflow;
        Name = name;
        Path = path;
        Stream = stream;
        try
        {
            _file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"disk '{name}': cannot open '{path}' for read and write: {e.Message}", e);
        }
        Size = RandomAccess.GetLength(_file);
        Dirty = new DirtyRegions(Size, DirtyBlockSize);
        if (activityLogExtents > 0 && stateDirectory is not null)
        {
            Activity = ActivityLog.Open(System.IO.Path.Combine(stateDirectory, name + ".activity"), Size, activityLogExtentBytes, activityLogExtents,
                out var recovered, out var why);
            RecoveredActivity = recovered;
            ActivityProblem = why;
        }
    }

    /// <summary>The disk's write-ahead activity log, or null when it is off.</summary>
    public ActivityLog? Activity { get; }

    /// <summary>What the activity log held at start (null: none usable, and <see cref="ActivityProblem"/> says why).</summary>
    public ActivityLog.Recovered? RecoveredActivity { get; }
    public string? ActivityProblem { get; }

    /// <summary>An extent may leave the log once its last write is acknowledged and no dirty region lies in it.</summary>
    bool Forgettable(long extent, long lastSequence) =>
        lastSequence != long.MaxValue && lastSequence <= Stream.AckedThrough
        && !Dirty.AnyIn(extent * Activity!.ExtentBytes, Activity.ExtentBytes);

    /// <summary>Records the range in the activity log before it is written. Caller holds the write lock.</summary>
    void LogAhead(long offset, long length) => Activity?.EnsureLogged(offset, length, Forgettable);

    /// <summary>Granularity of overflow tracking: what is re-read and sent for one dirty bit.</summary>
    public const int DirtyBlockSize = 64 * 1024;

    /// <summary>
    /// When the stream's buffer is full: true marks the region dirty and replies at source speed (the
    /// default: the protected machine's writes are never held hostage); false makes the writer wait.
    /// </summary>
    public bool TrackOnOverflow { get; }

    /// <summary>Regions written while the buffer was full; re-read from the source and sent by the dirty pass.</summary>
    public DirtyRegions Dirty { get; }

    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opens the export for I/O once the process server has said where the stream resumes (or at once, capturing).</summary>
    public void MarkReady() => _ready.TrySetResult();

    // Capturing: no process server is known yet (--process-server-file), so nothing can be numbered: the stream's first
    // sequence is the process server's to say. A write is applied to the source after its extents are in the activity
    // log, where they stay (nothing acknowledges them); the first connection compares the whole disk with the replica,
    // which covers every captured write and every write made before this agent existed. Guarded by the write lock.
    bool _capturing;
    long _capturedBytes;

    /// <summary>Serves I/O capturing, before any process server is known. Called before <see cref="MarkReady"/>.</summary>
    public void BeginCapture() => _capturing = true;

    /// <summary>True until the first process server settles this disk's numbering. Caller holds <see cref="WriteLock"/>.</summary>
    public bool Capturing => _capturing;

    /// <summary>Bytes written (data, zeroes, trims) while capturing, by this process.</summary>
    public long CapturedBytes => Interlocked.Read(ref _capturedBytes);

    /// <summary>Numbering is settled: every later change goes into the stream. Caller holds <see cref="WriteLock"/>.</summary>
    public void EndCapture() => _capturing = false;

    /// <summary>Raised (outside the lock) when a write went to the dirty map instead of the stream.</summary>
    public event Action? Overflowed;

    public string Name { get; }
    public string Path { get; }
    public long Size { get; }
    /// <summary>True while a planned failover has stopped this disk's writes (<see cref="StopWrites"/>); see <see cref="FailoverStops"/>.</summary>
    public bool ReadOnly => Volatile.Read(ref _writesStopped);

    // Set and cleared under the write lock and checked under it before a change is applied, so once StopWrites returns
    // no change is applied or numbered until AllowWrites; a change already past the check finishes and is numbered first.
    bool _writesStopped;

    /// <summary>Refuses every later write, write-zeroes and trim (NBD_EPERM, not captured). Caller holds <see cref="WriteLock"/>.</summary>
    public void StopWrites() => Volatile.Write(ref _writesStopped, true);

    /// <summary>Takes writes again. Caller holds <see cref="WriteLock"/>.</summary>
    public void AllowWrites() => Volatile.Write(ref _writesStopped, false);

    /// <summary>True while a resync scan reads this disk. Caller holds <see cref="WriteLock"/>.</summary>
    public bool ScanRunning => _scansRunning > 0;

    void RefuseIfStopped()
    {
        if (_writesStopped) throw new Capture.Nbd.ExportReadOnlyException(Name, "its writes are stopped for a planned failover");
    }
    public DiskStream Stream { get; }

    /// <summary>The lock under which changes are applied and numbered; the resync scanner and bookmarks take it too.</summary>
    public SemaphoreSlim WriteLock => _writeLock;
    public SafeFileHandle Handle => _file;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        var n = RandomAccess.Read(_file, buffer.Span, offset);
        if (n < buffer.Length) buffer.Span[n..].Clear();
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        if (!TrackOnOverflow) await Stream.WaitForRoomAsync(data.Length, ct).ConfigureAwait(false);
        var overflowed = false;
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            RefuseIfStopped();
            LogAhead(offset, data.Length);
            RandomAccess.Write(_file, data.Span, offset);
            if (_capturing) Interlocked.Add(ref _capturedBytes, data.Length);
            else if (TrackOnOverflow && !Stream.HasRoom(data.Length)) { BeginResync(ResyncReason.BufferOverflow); Dirty.Mark(offset, data.Length); overflowed = true; }
            else
            {
                // Numbered first: with no activity log a null-conditional call would skip evaluating its arguments.
                var last = Stream.AppendWrite(offset, data);
                Activity?.Noted(offset, data.Length, last);
            }
        }
        finally { _writeLock.Release(); }
        // FUA: durable before the reply. The fsync runs outside the lock (it covers this write whatever follows it),
        // so other writers and a group hold do not wait behind a disk flush.
        if (fua) RandomAccess.FlushToDisk(_file);
        if (overflowed) Overflowed?.Invoke();
    }

    public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Zero, offset, length, fua, ct);

    public ValueTask TrimAsync(long offset, int length, CancellationToken ct)
        => ZeroRangeAsync(DeltaKind.Trim, offset, length, false, ct);

    async ValueTask ZeroRangeAsync(DeltaKind kind, long offset, int length, bool fua, CancellationToken ct)
    {
        await _ready.Task.WaitAsync(ct).ConfigureAwait(false);
        if (!TrackOnOverflow) await Stream.WaitForRoomAsync(0, ct).ConfigureAwait(false);
        var overflowed = false;
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            RefuseIfStopped();
            LogAhead(offset, length);
            WriteZeroes(offset, length);
            if (_capturing) Interlocked.Add(ref _capturedBytes, length);
            else if (TrackOnOverflow && !Stream.HasRoom(0)) { BeginResync(ResyncReason.BufferOverflow); Dirty.Mark(offset, length); overflowed = true; }
            else
            {
                var last = Stream.Append(kind, offset, length, ReadOnlyMemory<byte>.Empty).Sequence;
                Activity?.Noted(offset, length, last);
            }
        }
        finally { _writeLock.Release(); }
        if (fua) RandomAccess.FlushToDisk(_file);
        if (overflowed) Overflowed?.Invoke();
    }

    /// <summary>
    /// Sends every dirty region again, read from the source under the write lock, so later writes
    /// always follow it in the stream. Waits for room in the buffer between blocks. Returns the
    /// number of blocks sent; the map is empty when it returns unless new overflows happened.
    /// </summary>
    public async Task<long> DrainDirtyAsync(CancellationToken ct)
    {
        var buffer = new byte[DirtyBlockSize];
        long sent = 0;
        while (Dirty.Count > 0)
        {
            await Stream.WaitForRoomAsync(DirtyBlockSize, ct).ConfigureAwait(false);
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                if (!Dirty.TryTakeNext(out var offset)) break;
                var n = (int)Math.Min(DirtyBlockSize, Size - offset);
                var block = buffer.AsSpan(0, n);
                var read = RandomAccess.Read(_file, block, offset);
                if (read < n) block[read..].Clear();
                var seq = block.IndexOfAnyExcept((byte)0) < 0
                    ? Stream.Append(DeltaKind.Zero, offset, n, ReadOnlyMemory<byte>.Empty).Sequence
                    : Stream.AppendWrite(offset, buffer.AsMemory(0, n));
                Activity?.Noted(offset, n, seq);
                sent++;
                EndResyncIfConsistent(ResyncReason.BufferOverflow);
            }
            finally { _writeLock.Release(); }
        }
        return sent;
    }

    // The resync range of this disk's stream (see ResyncMarker): open from the first sequence the source's state is not
    // whole in the stream, until no scan runs and no dirty region is left. Guarded by the write lock.
    bool _resyncOpen;
    int _scansRunning;
    ResyncReason _scanReason;
    long _scanned;

    /// <summary>
    /// Opens the stream's resync range if it is not open: appends the begin marker, so every later sequence is known
    /// (at the master target, in stream order) not to be a recovery point. Caller holds <see cref="WriteLock"/>.
    /// </summary>
    void BeginResync(ResyncReason reason)
    {
        if (_resyncOpen) return;
        Stream.Append(DeltaKind.Bookmark, 0, 0, System.Text.Encoding.UTF8.GetBytes(ResyncMarker.Begin(reason)));
        _resyncOpen = true;
    }

    /// <summary>Closes the range with the end marker once nothing is owed: no scan running, no dirty region. Caller holds <see cref="WriteLock"/>.</summary>
    void EndResyncIfConsistent(ResyncReason reason)
    {
        if (!_resyncOpen || _scansRunning > 0 || Dirty.Count > 0) return;
        Stream.Append(DeltaKind.Bookmark, 0, 0, System.Text.Encoding.UTF8.GetBytes(ResyncMarker.End(reason)));
        _resyncOpen = false;
    }

    /// <summary>A resync scan starts: the range opens now, before any write after this call is numbered. Caller holds <see cref="WriteLock"/>.</summary>
    public void ScanStarted(ResyncReason reason)
    {
        _scansRunning++;
        _scanReason = reason;
        Interlocked.Exchange(ref _scanned, 0);
        BeginResync(reason);
    }

    /// <summary>A resync scan read the whole disk. Caller holds <see cref="WriteLock"/>.</summary>
    public void ScanFinished(ResyncReason reason)
    {
        _scansRunning--;
        EndResyncIfConsistent(reason);
    }

    /// <summary>Bytes the running scan has read (for the refusal's progress).</summary>
    public void ScanProgress(long scannedBytes, long totalBytes)
    {
        Interlocked.Exchange(ref _scanTotal, totalBytes);
        Interlocked.Exchange(ref _scanned, scannedBytes);
    }

    long _scanTotal;

    /// <summary>
    /// The stream was renumbered after a gap (<see cref="DiskStream.ResetAfter"/>): a begin marker not yet delivered may be
    /// gone, so the next resync appends its own. Caller holds <see cref="WriteLock"/>.
    /// </summary>
    public void StreamRenumbered() => _resyncOpen = false;

    /// <summary>
    /// Why a point cannot be taken on this disk now (a scan running, regions written while the buffer was full), or null
    /// when the stream is crash-consistent. Caller holds <see cref="WriteLock"/>.
    /// </summary>
    public string? NotCrashConsistent()
    {
        if (_scansRunning > 0)
        {
            var total = Interlocked.Read(ref _scanTotal) is > 0 and var t ? t : Size;
            return $"{Name} is resyncing ({_scanReason}), {100.0 * Interlocked.Read(ref _scanned) / total:0.#}% of {total >> 20} MiB scanned";
        }
        if (Dirty.Count > 0) return $"{Name} is resending {Dirty.Count} regions written while the buffer was full (BufferOverflow)";
        if (_resyncOpen) return $"{Name} is finishing a resync";
        return null;
    }

    void WriteZeroes(long offset, int length)
    {
        var zeros = new byte[Math.Min(length, 1 << 20)];
        for (long done = 0; done < length;)
        {
            var n = (int)Math.Min(zeros.Length, length - done);
            RandomAccess.Write(_file, zeros.AsSpan(0, n), offset + done);
            done += n;
        }
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        RandomAccess.FlushToDisk(_file);
        return ValueTask.CompletedTask;
    }

    public void Dispose()
    {
        Activity?.Dispose();
        _file.Dispose();
        _writeLock.Dispose();
    }
}
