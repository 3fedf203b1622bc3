using System.Text.Json;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Resync;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// One disk at the master target: the replica (kept at the latest state) and the retention journal
/// (every stored delta record, in order). Write-ahead rule: a delta is appended to the journal before
/// it touches the replica, and both are fsync'd before the process server is acknowledged. A small
/// checkpoint file records how far the replica itself was fsync'd, so after a crash the journal tail
/// past it is applied again (deltas are absolute writes, so re-applying is harmless). Because of that
/// redo, only the journal must be fsync'd before acknowledging; the replica is fsync'd at most every
/// <c>replicaFlushInterval</c>, off the commit path (a background fsync while the writer goes on appending), and the
/// checkpoint only ever moves forward.
/// The retention (<see cref="DiskRetention"/>: base image, checkpoint indexes) reads the same journal; its base never
/// rolls past the replica's checkpoint, so the redo above always finds its records.
/// </summary>
public sealed partial class ReplicaDisk : IAsyncDisposable
{
    readonly DeltaCompression _compression;
    readonly string _checkpointPath;
    long _replicaDurable;
    DateTime _lastReplicaFlush = DateTime.UtcNow;
    Task _replicaFlush = Task.CompletedTask;
    readonly object _checkpointLock = new();
    Action<string>? _log;
    public TimeSpan ReplicaFlushInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>The master target's clock (Unix ms): receive times and retention go by it. Tests inject their own.</summary>
    public Func<long> Clock { get; init; } = SystemClock;
    static long SystemClock() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    /// <summary>The agent's stamps against this clock, for the clock-skew alert.</summary>
    public AgentClockSkew ClockSkew { get; } = new();

    ReplicaDisk(string diskId, long size, SegmentLog journal, IReplicaStore replica, DeltaCompression compression, string checkpointPath)
    {
        _directory = Path.GetDirectoryName(checkpointPath)!;
        DiskId = diskId;
        Size = size;
        Journal = journal;
        Replica = replica;
        _compression = compression;
        _checkpointPath = checkpointPath;
    }

    readonly string _directory;
    ResyncRanges _resyncRanges = ResyncRanges.Empty;

    public string DiskId { get; }
    public long Size { get; }

    /// <summary>
    /// The sequences of this disk that are inside a resync (from the markers in its stream, kept in
    /// <see cref="ResyncRangeFile"/>): none of them is a recovery point. Read without the gate: an immutable value.
    /// </summary>
    public ResyncRanges ResyncRanges => Volatile.Read(ref _resyncRanges);

    /// <summary>Why <paramref name="sequence"/> cannot be a recovery point of this disk (it lies inside a resync), or null.</summary>
    public PointInsideResyncException? InsideResync(long sequence) =>
        ResyncRanges.Covering(sequence) is { } range ? new PointInsideResyncException(DiskId, sequence, range) : null;
    public SegmentLog Journal { get; }
    public IReplicaStore Replica { get; }
    /// <summary>Highest sequence appended and applied (durable only after <see cref="CommitAsync"/>).</summary>
    public long AppliedThrough => Journal.LastSequence;
    public long DurableThrough => Journal.DurableSequence;
    public long BytesApplied { get; private set; }
    /// <summary>The retention window of the disk's protection group, when known; otherwise the configured one applies.</summary>
    public TimeSpan? WindowOverride { get; set; }
    public readonly SemaphoreSlim Gate = new(1, 1);
    /// <summary>Base image, checkpoints and point-in-time views of this disk.</summary>
    public DiskRetention Retention { get; private set; } = null!;
    readonly SemaphoreSlim _maintenance = new(1, 1);

    public static async Task<ReplicaDisk> OpenAsync(string directory, string diskId, long size, IReplicaStoreFactory stores, DeltaCompression compression, SegmentLogOptions options, TimeSpan replicaFlushInterval, CancellationToken ct, RetentionOptions? retention = null, Action<string>? log = null, Func<long>? clock = null)
    {
        var sizePath = DiskFilePath(directory);
        var recorded = File.Exists(sizePath);
        if (recorded)
        {
            var known = ReadRecordedSize(sizePath, diskId);
            if (known != size)
                throw new InvalidDataException($"disk {diskId}: offered with size {size} but its replica was created with size {known} ('{sizePath}')");
        }
        // A disk recorded here had its replica made then: one that is gone now (a deleted file, blob or container) would be
        // made anew, blank, and the redo from the checkpoint would leave everything before it missing: refused by name.
        if (recorded && !await stores.ExistsAsync(diskId, ct).ConfigureAwait(false))
            throw new InvalidDataException($"disk {diskId}: its replica is missing, although this master target recorded the disk ('{sizePath}') and keeps its journal; " +
                $"a new, blank replica would make every point of it lie, so the offer is refused and nothing is created. Restore the replica, or move '{directory}' aside to seed the disk again from its agent");
        // The replica is opened first: a store that refuses the offer (an adopted file of another size) leaves nothing
        // behind here, no disk.json recording the refused size and no journal.
        var replica = await stores.OpenAsync(diskId, size, ct).ConfigureAwait(false);
        SegmentLog? journal = null;
        try
        {
            Directory.CreateDirectory(directory);
            // Written once, when the replica is created; never rewritten.
            if (!recorded) DurableFile.WriteAtomically(sizePath, JsonSerializer.SerializeToUtf8Bytes(new DiskFile(diskId, size)), null, "disk.json");
            journal = SegmentLog.Open(Path.Combine(directory, "journal"), options);
            var disk = new ReplicaDisk(diskId, size, journal, replica, compression, Path.Combine(directory, "replica.checkpoint")) { ReplicaFlushInterval = replicaFlushInterval, _log = log, Clock = clock ?? SystemClock };
            disk._resyncRanges = ResyncRangeFile.Load(directory);
            await disk.RedoTailAsync(ct).ConfigureAwait(false);
            // An adopted replica held the disk before its first delta: the points are built on that, not on zeroes.
            if (replica.Adopted && journal.DurableSequence == 0)
                await BaseImage.SeedAsync(Path.Combine(directory, "retention"), size, (offset, buffer, token) => replica.ReadAsync(offset, buffer, token), ct).ConfigureAwait(false);
            disk.Retention = DiskRetention.Open(Path.Combine(directory, "retention"), diskId, size, journal, compression, retention, log: log, nowUnixMs: disk.Clock());
            disk.Retention.RollLimit = disk._replicaDurable;
            disk.LoadPoints();
            return disk;
        }
        catch
        {
            // A failed open (a storage fault in the redo, say) lets go of what it opened, so the next attempt can open it.
            journal?.CloseAtDurable();
            await replica.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    sealed record DiskFile(string DiskId, long SizeBytes);

    /// <summary>The disk's id and size, recorded when its replica was created (<c>disk.json</c>).</summary>
    internal static string DiskFilePath(string directory) => Path.Combine(directory, "disk.json");

    /// <summary>The size <c>disk.json</c> records; a <see cref="DurableFileUnreadableException"/> naming the file when it is empty or damaged.</summary>
    internal static long ReadRecordedSize(string path, string diskId) => DurableFile.Read(path, $"master target disk file of {diskId}", bytes =>
    {
        var known = JsonSerializer.Deserialize<DiskFile>(bytes) ?? throw new FormatException("it holds null");
        if (known.DiskId != diskId) throw new FormatException($"it names disk '{known.DiskId}'");
        return known.SizeBytes > 0 ? known.SizeBytes : throw new FormatException($"size {known.SizeBytes} is not positive");
    }, "Delete it to let the disk be re-offered: the next offer from its process server records the size it carries (the journal and replica are kept).");

    async Task RedoTailAsync(CancellationToken ct)
    {
        _replicaDurable = File.Exists(_checkpointPath) ? long.Parse(File.ReadAllText(_checkpointPath)) : 0;
        var from = Math.Max(_replicaDurable + 1, Journal.FirstSequence);
        if (Journal.LastSequence < from) return;
        foreach (var (_, record) in Journal.Read(from))
            await ApplyToReplicaAsync(_compression.DecodeStored(record), ct).ConfigureAwait(false);
        await Replica.FlushAsync(ct).ConfigureAwait(false);
        SaveCheckpoint(Journal.LastSequence);
    }

    /// <summary>Appends a verified delta (as its stored record) and applies it. Caller holds <see cref="Gate"/>.</summary>
    public async ValueTask AppendAsync(Delta delta, ReadOnlyMemory<byte> storedRecord, CancellationToken ct)
    {
        if (delta.Kind == DeltaKind.Bookmark) MarkerAppending(delta);
        if (delta.Kind == DeltaKind.Bookmark && ResyncMarker.TryParse(delta.BookmarkId, out var begin, out var reason))
        {
            // Recorded before the marker is journaled: after a crash the ranges are never behind the journal.
            var next = _resyncRanges.Apply(delta.Sequence, begin, reason);
            if (!ReferenceEquals(next, _resyncRanges))
            {
                ResyncRangeFile.Save(_directory, next);
                Volatile.Write(ref _resyncRanges, next);
                _log?.Invoke($"disk {DiskId}: {(begin ? "resync began" : "resync ended")} ({reason}) at #{delta.Sequence}: no recovery point inside {(begin ? next.Open : next.Ranges[^1])}");
            }
        }
        var location = Journal.Append(storedRecord.Span, delta.Sequence);
        Retention.Appended(delta, location);
        ClockSkew.Observe(delta.TimeUnixMs);
        await ApplyToReplicaAsync(delta, ct).ConfigureAwait(false);
        if (delta.Kind == DeltaKind.Bookmark) await SnapshotIfPointAsync(delta, ct).ConfigureAwait(false);
    }

    async ValueTask ApplyToReplicaAsync(Delta delta, CancellationToken ct)
    {
        if (delta.Kind is DeltaKind.Write or DeltaKind.Zero or DeltaKind.Trim && delta.Offset + delta.Length > Size)
            throw new InvalidDataException($"disk {DiskId}: delta #{delta.Sequence} covers {delta.Offset}..{delta.Offset + delta.Length} past the disk's {Size} bytes");
        switch (delta.Kind)
        {
            case DeltaKind.Write:
                await Replica.WriteAsync(delta.Offset, delta.Payload, ct).ConfigureAwait(false);
                BytesApplied += delta.Length;
                break;
            case DeltaKind.Zero or DeltaKind.Trim:
                await Replica.ZeroAsync(delta.Offset, delta.Length, ct).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>
    /// Makes everything appended durable in the journal; every <see cref="ReplicaFlushInterval"/> also starts an
    /// fsync of the replica that moves the checkpoint when it is done. Caller holds <see cref="Gate"/>.
    /// </summary>
    public ValueTask<long> CommitAsync(CancellationToken ct)
    {
        Journal.Flush();
        var durable = Journal.DurableSequence;
        var now = Clock();
        Retention.Received(durable, now); // after the fsync: a receive time only ever names durable records
        ClockSkew.Committed(now);
        if (DateTime.UtcNow - _lastReplicaFlush >= ReplicaFlushInterval && durable != Volatile.Read(ref _replicaDurable) && _replicaFlush.IsCompleted)
        {
            _lastReplicaFlush = DateTime.UtcNow;
            // Every delta through `durable` is applied by now, so a flush started now covers them all; the writer does not
            // wait for it (an fsync of a second's worth of replica writes took ~100 ms of the commit path, measured).
            _replicaFlush = Task.Run(() => FlushReplicaThrough(durable), CancellationToken.None);
        }
        return ValueTask.FromResult(durable);
    }

    /// <summary>The replica fsync that <see cref="CommitAsync"/> last started (done when none runs); it never faults.</summary>
    public Task ReplicaFlush => _replicaFlush;

    /// <summary>The background part of <see cref="CommitAsync"/>: a failed fsync leaves the checkpoint where it was (the redo covers it).</summary>
    async Task FlushReplicaThrough(long sequence)
    {
        try
        {
            await Replica.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            SaveCheckpoint(sequence);
        }
        catch (Exception e)
        {
            _log?.Invoke($"disk {DiskId}: replica fsync through #{sequence} failed ({e.Message}); the checkpoint stays at #{Volatile.Read(ref _replicaDurable)}");
        }
    }

    /// <summary>
    /// Writes a checkpoint index if the churn since the last one reached the interval, then rolls the base to the
    /// window's oldest point and trims the journal behind it. Runs beside the writer (the journal allows it).
    /// </summary>
    public async Task MaintainRetentionAsync(long nowUnixMs, CancellationToken ct)
    {
        // Lock order: _maintenance, then Gate (DisposeAsync takes them in the same order).
        await _maintenance.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_disposed) return;
            if (Volatile.Read(ref _replicaDurable) < Journal.DurableSequence && DateTime.UtcNow - _lastReplicaFlush >= ReplicaFlushInterval)
            {
                // An idle disk gets no further commit to move the replica's redo point, and the base may not roll
                // past it: flush here so the window can close up to the newest point.
                await Gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    var durable = Journal.DurableSequence;
                    if (durable != Volatile.Read(ref _replicaDurable))
                    {
                        await Replica.FlushAsync(ct).ConfigureAwait(false);
                        SaveCheckpoint(durable);
                        _lastReplicaFlush = DateTime.UtcNow;
                    }
                }
                finally { Gate.Release(); }
            }
            Retention.MaybeCheckpoint();
            Retention.ApplyWindow(nowUnixMs, WindowOverride ?? Retention.Options.Window);
            await PruneResyncRangesAsync(ct).ConfigureAwait(false);
        }
        finally { _maintenance.Release(); }
    }

    bool _disposed;

    /// <summary>Forgets resync ranges that ended below the window: no point there can be named any more.</summary>
    async Task PruneResyncRangesAsync(CancellationToken ct)
    {
        var oldest = Retention.Window().OldestSequence;
        if (ReferenceEquals(_resyncRanges.Below(oldest), _resyncRanges)) return;
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var next = _resyncRanges.Below(oldest);
            ResyncRangeFile.Save(_directory, next);
            Volatile.Write(ref _resyncRanges, next);
        }
        finally { Gate.Release(); }
    }

    /// <summary>
    /// Moves the redo point forward, never back: the base may already have rolled (and the journal been trimmed) up to
    /// the newer value, so a flush that finishes late must not return the checkpoint to records that are gone.
    /// </summary>
    void SaveCheckpoint(long sequence)
    {
        lock (_checkpointLock)
        {
            if (sequence <= _replicaDurable && File.Exists(_checkpointPath)) return;
            // Durably replaced: a crash must leave the old value or the new one, never an empty file that stops the open.
            DurableFile.WriteAtomically(_checkpointPath,
                System.Text.Encoding.ASCII.GetBytes(sequence.ToString(System.Globalization.CultureInfo.InvariantCulture)), null, "replica-checkpoint");
            Volatile.Write(ref _replicaDurable, sequence);
            if (Retention is not null) Retention.RollLimit = sequence;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A disk stopped by a storage fault is closed without committing what followed its journal's last fsync.
        if (Fault is not null)
        {
            await CloseAfterFaultAsync().ConfigureAwait(false);
            return;
        }
        await _maintenance.WaitAsync().ConfigureAwait(false);
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed) return; // closed after a storage fault
            _disposed = true;
            try { await _replicaFlush.ConfigureAwait(false); }
            catch (Exception e) { _log?.Invoke($"disk {DiskId}: background replica flush failed: {e.Message}"); } // flushed again just below
            Journal.Flush();
            await Replica.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            SaveCheckpoint(Journal.DurableSequence);
            Retention.Dispose();
            Journal.Dispose();
            await Replica.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            Gate.Release();
            _maintenance.Release();
        }
    }
}
