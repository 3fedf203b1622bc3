using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Checkpoints;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Retention;

/// <summary>
/// A disk's retention: the base image at the oldest retained point, checkpoint indexes every
/// <see cref="RetentionOptions.CheckpointIntervalBytes"/> of churn, and the journal between them. Any point P in the
/// window is the base, plus the newest checkpoint at or below P, plus the journal from that checkpoint to P — so the
/// journal read to reach a point is bounded by the checkpoint interval, never by the window.
/// </summary>
/// <remarks>
/// Invariants. (1) The base is at sequence B; the journal holds every record after B (it may also hold some at or
/// below B: trimming is by whole segment files). (2) A checkpoint at C describes (B, C] for any B below C: its extents
/// from records at or below the current B are dropped on use, because the base already has their bytes. (3) The
/// window is [B, durable]; B only moves forward, to the last sequence the master target received at or before
/// now − window (by its own clock, <see cref="ReceiveTimeIndex"/>; records journaled before receive times were kept
/// use their running-maximum agent write time instead), and never past an open view's point or <see cref="RollLimit"/>. (4) Maintenance (checkpoint,
/// roll, trim) and view opening are serialized by one lock; reads of an open view are not.
/// Each step writes temp + fsync + rename, so a crash at any step reopens to a verified state (see <see cref="BaseImage"/>).
/// </remarks>
public sealed class DiskRetention : IDisposable
{
    public const string CheckpointDirectoryName = "checkpoints";

    private readonly string _diskId;
    private readonly SegmentLog _journal;
    private readonly DeltaCompression _compression;
    private readonly RetentionOptions _options;
    private readonly BaseImage _base;
    private readonly string _checkpointDirectory;
    private readonly Action<string>? _hook;
    private readonly object _maintain = new();
    private readonly object _pinsGate = new();
    private readonly Dictionary<long, (long Point, long Base)> _pins = [];
    private readonly SortedList<long, long> _checkpoints = []; // sequence -> max time
    private ExtentMap _working = new();
    // Records the writer reported as it appended them, so indexing does not read every payload back from the journal.
    private readonly System.Collections.Concurrent.ConcurrentQueue<AppendedRecord> _appended = new();
    private int _appendedCount;
    private const int AppendedLimit = 1 << 20;
    private long _workingThrough;
    private long _workingMaxTime;
    private long _workingChurn;
    private DateTime _lastCheckpointAt = DateTime.UtcNow;
    private long _nextPin;
    private ReceiveTimeIndex _received = null!;

    private DiskRetention(string diskId, SegmentLog journal, DeltaCompression compression, RetentionOptions options, BaseImage @base, string checkpointDirectory, Action<string>? hook)
    {
        _diskId = diskId;
        _journal = journal;
        _compression = compression;
        _options = options;
        _base = @base;
        _checkpointDirectory = checkpointDirectory;
        _hook = hook;
    }

    public string DiskId => _diskId;
    public long Size => _base.Size;
    public SegmentLog Journal => _journal;
    public BaseImage Base => _base;
    public RetentionOptions Options => _options;
    /// <summary>When the master target received each record (its own clock); the window and time resolution use it.</summary>
    public ReceiveTimeIndex ReceiveTimes => _received;
    /// <summary>The oldest retained point (the base's sequence).</summary>
    public long OldestSequence { get { lock (_maintain) return _base.Sequence; } }
    /// <summary>Sequences of the checkpoint indexes on disk, ascending.</summary>
    public IReadOnlyList<long> Checkpoints { get { lock (_maintain) return [.. _checkpoints.Keys]; } }
    /// <summary>The base never rolls past this (the replica's own redo point); owners move it forward.</summary>
    public long RollLimit { get => Interlocked.Read(ref _rollLimit); set => Interlocked.Exchange(ref _rollLimit, value); }
    private long _rollLimit = long.MaxValue;
    /// <summary>Points currently pinned by open views.</summary>
    public int OpenViews { get { lock (_pinsGate) return _pins.Count; } }

    /// <summary>
    /// Opens (creating if needed) the retention of a disk in <paramref name="directory"/> over its journal. Finishes an
    /// interrupted roll, drops leftover temp files and unusable checkpoints, and rebuilds the working index from the
    /// newest checkpoint plus the journal after it. <paramref name="hook"/> is called at each crash-relevant step.
    /// </summary>
    /// <paramref name="nowUnixMs"/> is the master target's clock (records journaled but not yet sampled are stamped with it).
    public static DiskRetention Open(string directory, string diskId, long size, SegmentLog journal, DeltaCompression compression, RetentionOptions? options = null, Action<string>? hook = null, Action<string>? log = null, long? nowUnixMs = null)
    {
        options ??= new RetentionOptions();
        options.Validate();
        PrivateFiles.CreateDirectory(directory);
        var cpDir = Path.Combine(directory, CheckpointDirectoryName);
        PrivateFiles.CreateDirectory(cpDir);
        foreach (var tmp in Directory.EnumerateFiles(directory, "*" + DurableFile.TempSuffix).Concat(Directory.EnumerateFiles(cpDir, "*" + DurableFile.TempSuffix)))
            File.Delete(tmp);
        var @base = BaseImage.Open(directory, size);
        var r = new DiskRetention(diskId, journal, compression, options, @base, cpDir, hook);
        try
        {
            r.Recover(log);
            r._received = ReceiveTimeIndex.Open(directory, diskId, journal.DurableSequence, nowUnixMs ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), options.ReceiveTimeSampleInterval, log);
            return r;
        }
        catch
        {
            @base.Dispose();
            throw;
        }
    }

    private void Recover(Action<string>? log)
    {
        var b = _base.Sequence;
        var first = _journal.FirstSequence;
        var durable = _journal.DurableSequence;
        if (durable > b && (first == 0 || first > b + 1))
            throw new InvalidDataException(
                $"disk {_diskId}: base image is at #{b} but the journal starts at #{(first == 0 ? "(nothing held)" : first)}; records {b + 1}..{(first == 0 ? durable : first - 1)} are missing");
        if (_base.RollingTo > b)
        {
            if (_base.RollingTo > durable)
                throw new InvalidDataException($"disk {_diskId}: an interrupted roll of the base targets #{_base.RollingTo}, past the journal's durable #{durable}");
            log?.Invoke($"disk {_diskId}: finishing an interrupted roll of the base from #{b} to #{_base.RollingTo}");
            _base.ApplyRoll(Decode(_journal.Read(b + 1, _base.RollingTo)), null);
            b = _base.Sequence;
        }
        foreach (var path in Directory.EnumerateFiles(_checkpointDirectory, "cp-*.idx"))
        {
            var seq = CheckpointFile.ParseName(Path.GetFileName(path));
            if (seq is null) continue;
            if (seq <= b || seq > durable)
            {
                File.Delete(path); // at or below the base: nothing left to index; past durable: from records a crash lost
                continue;
            }
            try
            {
                var cp = CheckpointFile.Read(path, Size);
                if (cp.Sequence != seq) throw new InvalidDataException($"checkpoint '{path}' describes #{cp.Sequence}, not the #{seq} of its name");
                _checkpoints[seq.Value] = cp.MaxTimeUnixMs;
            }
            catch (InvalidDataException e)
            {
                // A checkpoint is derived data: dropping it costs replay time, never a point.
                log?.Invoke($"disk {_diskId}: dropping unusable checkpoint: {e.Message}");
                File.Delete(path);
            }
        }
        if (_checkpoints.Count > 0)
        {
            var newest = _checkpoints.Keys[^1];
            var cp = CheckpointFile.Read(Path.Combine(_checkpointDirectory, CheckpointFile.FileName(newest)), Size);
            _working = ExtentMap.From(cp.Extents.Where(e => e.Sequence > b));
            (_workingThrough, _workingMaxTime) = (newest, cp.MaxTimeUnixMs);
        }
        else (_workingThrough, _workingMaxTime) = (b, _base.MaxTimeUnixMs);
        DirectorySync.Flush(_checkpointDirectory);
        lock (_maintain) CatchUp();
    }

    private IEnumerable<Delta> Decode(IEnumerable<(long Sequence, ReadOnlyMemory<byte> Record)> records)
    {
        foreach (var (_, record) in records) yield return _compression.DecodeStored(record);
    }

    /// <summary>A record the writer appended to the journal: its header fields and where it went.</summary>
    private readonly record struct AppendedRecord(long Sequence, DeltaKind Kind, long Offset, int Length, long TimeUnixMs, RecordLocation Location);

    /// <summary>
    /// The journal's writer reports each record it appended (with the location <see cref="SegmentLog.Append"/>
    /// returned), in sequence order. Indexing then takes them from memory once they are durable; anything not
    /// reported (or past the bounded backlog) is read back from the journal instead.
    /// </summary>
    public void Appended(Delta header, RecordLocation location)
    {
        if (Volatile.Read(ref _appendedCount) >= AppendedLimit) return;
        Interlocked.Increment(ref _appendedCount);
        _appended.Enqueue(new AppendedRecord(header.Sequence, header.Kind, header.Offset, header.Length, header.TimeUnixMs, location));
    }

    /// <summary>Every record through <paramref name="durable"/> is durable at the master target at <paramref name="nowUnixMs"/> (its clock); called at each commit.</summary>
    public void Received(long durable, long nowUnixMs) => _received.Received(durable, nowUnixMs);

    /// <summary>Overlays the journal records after the working index onto it. Caller holds <see cref="_maintain"/>.</summary>
    private void CatchUp()
    {
        var durable = _journal.DurableSequence;
        while (_appended.TryPeek(out var a) && a.Sequence <= durable)
        {
            if (a.Sequence == _workingThrough + 1) Index(a);
            else if (a.Sequence > _workingThrough + 1) break; // a gap: the journal has what was not reported
            _appended.TryDequeue(out _);
            Interlocked.Decrement(ref _appendedCount);
        }
        if (durable <= _workingThrough) return;
        foreach (var r in _journal.ReadLocated(_workingThrough + 1, durable))
        {
            var d = DeltaCodec.Decode(r.Record, out _); // header only: the payload stays where it is
            if (d.Sequence != r.Sequence)
                throw new InvalidDataException($"disk {_diskId}: journal position #{r.Sequence} holds record #{d.Sequence}");
            Index(new AppendedRecord(d.Sequence, d.Kind, d.Offset, d.Length, d.TimeUnixMs, r.Location));
        }
    }

    private void Index(AppendedRecord r)
    {
        Overlay(_working, r.Sequence, r.Kind, r.Offset, r.Length, r.Location);
        if (r.Kind is DeltaKind.Write or DeltaKind.Zero or DeltaKind.Trim) _workingChurn += r.Length;
        _workingMaxTime = Math.Max(_workingMaxTime, r.TimeUnixMs);
        _workingThrough = r.Sequence;
    }

    private void Overlay(ExtentMap map, Delta header, RecordLocation location)
        => Overlay(map, header.Sequence, header.Kind, header.Offset, header.Length, location);

    private void Overlay(ExtentMap map, long sequence, DeltaKind kind, long offset, int length, RecordLocation location)
    {
        if (kind is not (DeltaKind.Write or DeltaKind.Zero or DeltaKind.Trim) || length == 0) return;
        if (offset < 0 || offset + length > Size)
            throw new InvalidDataException($"disk {_diskId}: record #{sequence} covers {offset}..{offset + length}, past the disk's {Size} bytes");
        map.Overlay(new Extent(offset, length, sequence, kind == DeltaKind.Write ? ExtentKind.Data : ExtentKind.Zero, location, 0));
    }

    /// <summary>
    /// Indexes the journal up to what is durable and writes a checkpoint when the churn since the previous one
    /// reached the interval (bytes or time), or when <paramref name="force"/> and anything changed. Returns the new
    /// checkpoint's sequence, or null when none was written.
    /// </summary>
    public long? MaybeCheckpoint(bool force = false)
    {
        lock (_maintain)
        {
            CatchUp();
            if (_workingThrough <= _base.Sequence || _checkpoints.ContainsKey(_workingThrough)) return null;
            var due = _workingChurn >= _options.CheckpointIntervalBytes
                      || (_workingChurn > 0 && DateTime.UtcNow - _lastCheckpointAt >= _options.CheckpointInterval);
            if (!due && !(force && _workingChurn > 0)) return null;
            new CheckpointFile(_workingThrough, _workingMaxTime, _workingChurn, [.. _working.Extents]).Write(_checkpointDirectory, Size, _hook);
            _checkpoints[_workingThrough] = _workingMaxTime;
            _workingChurn = 0;
            _lastCheckpointAt = DateTime.UtcNow;
            return _workingThrough;
        }
    }

    /// <summary>
    /// Rolls the base forward to <paramref name="target"/> (capped by open views, <see cref="RollLimit"/> and what
    /// is durable), drops the checkpoints it passes and trims the journal files it no longer needs. Returns the base's
    /// sequence afterwards.
    /// </summary>
    public long RollForwardTo(long target)
    {
        lock (_maintain)
        {
            long minPoint, minPinnedBase;
            lock (_pinsGate)
            {
                minPoint = _pins.Count == 0 ? long.MaxValue : _pins.Values.Min(p => p.Point);
                minPinnedBase = _pins.Count == 0 ? long.MaxValue : _pins.Values.Min(p => p.Base);
            }
            target = Math.Min(Math.Min(target, minPoint), Math.Min(RollLimit, _journal.DurableSequence));
            var b = _base.Sequence;
            if (target > b)
            {
                _base.BeginRoll(target, _hook);
                _base.ApplyRoll(Decode(_journal.Read(b + 1, target)), _hook);
                foreach (var c in _checkpoints.Keys.Where(c => c <= target).ToList())
                {
                    File.Delete(Path.Combine(_checkpointDirectory, CheckpointFile.FileName(c)));
                    _checkpoints.Remove(c);
                }
                DirectorySync.Flush(_checkpointDirectory);
                _hook?.Invoke("roll.checkpoints-dropped");
                _working.RemoveAtOrBelow(target);
                if (_workingThrough < target)
                {
                    // The working index lagged the roll: restart it from the base.
                    _working = new ExtentMap();
                    (_workingThrough, _workingMaxTime, _workingChurn) = (target, _base.MaxTimeUnixMs, 0);
                }
            }
            _journal.TrimThrough(Math.Min(_base.Sequence, minPinnedBase));
            _hook?.Invoke("roll.trimmed");
            _received.TrimBelow(Math.Min(_base.Sequence, minPinnedBase));
            _received.Flush();
            return _base.Sequence;
        }
    }

    /// <summary>Rolls the base to the oldest point the window keeps at <paramref name="nowUnixMs"/>; returns the base's sequence.</summary>
    public long ApplyWindow(long nowUnixMs) => ApplyWindow(nowUnixMs, _options.Window);

    /// <summary>
    /// As <see cref="ApplyWindow(long)"/> with <paramref name="windowOverride"/> instead of the configured window (the disk's
    /// protection group decides its own window); null keeps everything.
    /// </summary>
    public long ApplyWindow(long nowUnixMs, TimeSpan? windowOverride)
    {
        if (windowOverride is not { } window) return RollForwardTo(0);
        var cutoff = nowUnixMs - (long)window.TotalMilliseconds;
        long target;
        lock (_maintain) target = LastSequenceAtOrBefore(cutoff) ?? _base.Sequence;
        return RollForwardTo(target);
    }

    /// <summary>
    /// The last sequence the master target received at or before <paramref name="timeUnixMs"/> (its clock), or null
    /// when even the first retained record is later. Records journaled before receive times were kept (through
    /// <see cref="ReceiveTimeIndex.LegacyThrough"/>) are judged by their agent write time instead
    /// (<see cref="LastWrittenAtOrBefore"/>). Caller holds <see cref="_maintain"/>.
    /// </summary>
    private long? LastSequenceAtOrBefore(long timeUnixMs)
    {
        var b = _base.Sequence;
        var legacy = _received.LegacyThrough;
        if (b < legacy)
        {
            var old = LastWrittenAtOrBefore(timeUnixMs, legacy);
            if (old is null || old < legacy) return old;
        }
        var floor = Math.Max(b, legacy);
        if (_received.LastReceivedAtOrBefore(timeUnixMs, floor) is { } seq) return seq;
        // Nothing after the floor was received by then: the floor itself is the answer when it is a point that old.
        if (floor > b) return floor; // the legacy records through it were all written by then (checked above)
        if (b == 0) return null;
        var tb = b <= legacy ? _base.MaxTimeUnixMs : _received.TimeOf(b);
        return tb <= timeUnixMs ? b : null;
    }

    /// <summary>
    /// The last sequence (at most <paramref name="through"/>) whose running-maximum agent write time is at or before
    /// <paramref name="timeUnixMs"/> (the running maximum keeps the answer well defined if a clock stepped back), or
    /// null when even the first retained record is later. Scans at most one checkpoint interval of the journal. Only
    /// for records that have no receive time. Caller holds <see cref="_maintain"/>.
    /// </summary>
    private long? LastWrittenAtOrBefore(long timeUnixMs, long through)
    {
        var b = _base.Sequence;
        var (start, running) = (b, _base.MaxTimeUnixMs);
        if (b > 0 && running > timeUnixMs) return null;
        foreach (var (c, maxTime) in _checkpoints)
        {
            if (maxTime > timeUnixMs || c > through) break;
            (start, running) = (c, maxTime);
        }
        long? last = start > 0 ? start : null;
        var durable = Math.Min(through, _journal.DurableSequence);
        if (durable <= start) return last;
        foreach (var (seq, record) in _journal.Read(start + 1, durable))
        {
            running = Math.Max(running, DeltaCodec.Decode(record, out _).TimeUnixMs);
            if (running > timeUnixMs) break;
            last = seq;
        }
        return last;
    }

    /// <summary>The recoverable range now.</summary>
    public RetentionWindow Window()
    {
        lock (_maintain) return WindowLocked();
    }

    private RetentionWindow WindowLocked()
    {
        var b = _base.Sequence;
        var durable = _journal.DurableSequence;
        var oldest = b > 0 ? TimesLocked(b) : durable > 0 ? TimesLocked(1) : null;
        var newest = durable > 0 ? TimesLocked(durable) : null;
        return new RetentionWindow(b, oldest?.TimeUnixMs, durable, newest?.TimeUnixMs)
        {
            OldestAgentTimeUnixMs = oldest?.AgentTimeUnixMs,
            NewestAgentTimeUnixMs = newest?.AgentTimeUnixMs,
            OldestReceived = oldest?.ReceivedUnixMs is not null,
            NewestReceived = newest?.ReceivedUnixMs is not null,
        };
    }

    /// <summary>The master target's receive time and the agent's write time of <paramref name="sequence"/> (a retained point).</summary>
    public PointTimes TimesOf(long sequence)
    {
        lock (_maintain) return TimesLocked(sequence) ?? new PointTimes(sequence, null, null);
    }

    private PointTimes? TimesLocked(long sequence)
    {
        var b = _base.Sequence;
        if (sequence <= 0 || sequence < b || sequence > _journal.DurableSequence) return null;
        // The agent's stamp: the base keeps the highest through B; a later record carries its own.
        long? agent = sequence == b ? _base.MaxTimeUnixMs : HeaderAt(sequence).TimeUnixMs;
        if (sequence > b && b > 0) agent = Math.Max(agent.Value, _base.MaxTimeUnixMs);
        return new PointTimes(sequence, _received.TimeOf(sequence), agent);
    }

    private Delta HeaderAt(long sequence)
    {
        foreach (var (_, record) in _journal.Read(sequence, sequence)) return DeltaCodec.Decode(record, out _);
        throw new PointInTimeUnavailableException($"disk {_diskId}: journal does not hold #{sequence}");
    }

    /// <summary>
    /// Resolves a UTC time to the last sequence written at or before it (write granularity). A time before the
    /// oldest retained point or after <paramref name="nowUnixMs"/> is refused with the window's bounds named.
    /// </summary>
    public long ResolveTime(DateTimeOffset time, long nowUnixMs) => ResolveTimePoint(time, nowUnixMs).Sequence;

    /// <summary>
    /// As <see cref="ResolveTime"/>, with the resolved point's receive time (the master target's clock, which decided)
    /// and the agent's stamp beside it.
    /// </summary>
    public PointTimes ResolveTimePoint(DateTimeOffset time, long nowUnixMs)
    {
        var t = time.ToUnixTimeMilliseconds();
        lock (_maintain)
        {
            var w = WindowLocked();
            if (t > nowUnixMs)
                throw new PointInTimeUnavailableException($"disk {_diskId}: time {Iso(t)} is in the future (now {Iso(nowUnixMs)}); retention window {w}");
            var seq = w.OldestTimeUnixMs is { } oldest && t >= oldest ? LastSequenceAtOrBefore(t) : null;
            if (seq is null or < 1)
                throw new PointInTimeUnavailableException($"disk {_diskId}: time {Iso(t)} is outside the retention window {w}");
            return TimesLocked(seq.Value) ?? new PointTimes(seq.Value, null, null);
        }
    }

    private static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Opens a random-access view of the disk at <paramref name="sequence"/>. The view pins the point until disposed.
    /// Throws <see cref="PointInTimeUnavailableException"/> naming the window when the point is outside it.
    /// </summary>
    public PointInTimeView OpenView(long sequence) => OpenViewOn(sequence, null, 0, null);

    /// <summary>
    /// As <see cref="OpenView(long)"/>, on <paramref name="snapshot"/> instead of the base image: the disk as it was at
    /// <paramref name="snapshotSequence"/>, kept elsewhere (a replica's snapshot of a point). The journal's records after
    /// it up to the point are read on top, by the same checkpoint and journal path as on the base (invariant 2 makes a
    /// checkpoint describe (S, C] for any S below it). The snapshot must lie in the window, at or below the point: the
    /// journal holds every record after the base, not before it. The view pins the journal from the snapshot on;
    /// <paramref name="release"/> runs when it is disposed (or when opening fails).
    /// </summary>
    public PointInTimeView OpenView(long sequence, IPointBase snapshot, long snapshotSequence, Action? release)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return OpenViewOn(sequence, snapshot, snapshotSequence, release);
    }

    private PointInTimeView OpenViewOn(long sequence, IPointBase? snapshot, long snapshotSequence, Action? release)
    {
        long b, pinId, from;
        CheckpointFile? cp = null;
        try
        {
            lock (_maintain)
            {
                b = _base.Sequence;
                var durable = _journal.DurableSequence;
                if (sequence < b || sequence > durable)
                    throw new PointInTimeUnavailableException($"disk {_diskId}: sequence {sequence} is outside the retention window #{b} .. #{durable}");
                if (snapshot is not null)
                {
                    if (snapshot.Size != Size)
                        throw new InvalidDataException($"disk {_diskId}: the snapshot at #{snapshotSequence} holds {snapshot.Size} bytes, but the disk is {Size} bytes");
                    if (snapshotSequence > sequence)
                        throw new ArgumentOutOfRangeException(nameof(snapshotSequence), $"disk {_diskId}: the snapshot at #{snapshotSequence} is past the point #{sequence}");
                    if (snapshotSequence < b)
                        throw new PointInTimeUnavailableException(
                            $"disk {_diskId}: the snapshot at #{snapshotSequence} is below the retention window #{b} .. #{durable}; the journal no longer holds the records after it");
                    b = snapshotSequence;
                }
                lock (_pinsGate)
                {
                    pinId = ++_nextPin;
                    _pins[pinId] = (sequence, b);
                }
                try
                {
                    var c = _checkpoints.Keys.LastOrDefault(k => k > b && k <= sequence);
                    // Read under the lock: a roll may delete the file right after.
                    if (c > 0) cp = CheckpointFile.Read(Path.Combine(_checkpointDirectory, CheckpointFile.FileName(c)), Size);
                    from = Math.Max(c, b) + 1;
                }
                catch
                {
                    Unpin(pinId);
                    throw;
                }
            }
        }
        catch
        {
            release?.Invoke();
            throw;
        }
        try
        {
            var map = cp is null ? new ExtentMap() : ExtentMap.From(cp.Extents.Where(e => e.Sequence > b));
            if (sequence >= from)
                foreach (var r in _journal.ReadLocated(from, sequence))
                    Overlay(map, DeltaCodec.Decode(r.Record, out _), r.Location);
            var id = pinId;
            return new PointInTimeView(_diskId, sequence, b, snapshot ?? _base, _journal, _compression, map.Freeze(), () =>
            {
                Unpin(id);
                release?.Invoke();
            });
        }
        catch
        {
            Unpin(pinId);
            release?.Invoke();
            throw;
        }
    }

    private void Unpin(long id)
    {
        lock (_pinsGate) _pins.Remove(id);
    }

    public void Dispose()
    {
        _received?.Dispose();
        _base.Dispose();
    }
}
