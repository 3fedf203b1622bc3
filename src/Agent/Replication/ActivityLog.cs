using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The write-ahead activity log of one disk, in the style of DRBD's: the set of extents (fixed-size regions of the disk)
/// in which a write may not yet be acknowledged by the process server. After a crash only these extents can differ from
/// the replica, so only they are compared and resent, instead of the whole disk.
/// Invariants (the caller holds the disk's write lock for every call):
/// - before a write touches the source, its extents are in the log on disk (<see cref="EnsureLogged"/> persists and
///   fsyncs first when one is new);
/// - an extent leaves the log only when every write in it is acknowledged and no dirty region lies in it; leaving is
///   lazy (written with the next change), since a log that says too much only costs a little more reading;
/// - the log keeps up to <c>capacity</c> extents, least recently written first out (hot extents stay, so repeated
///   writes cost no metadata write); when every logged extent still has unacknowledged writes (the path is down), it
///   grows past that bound instead of blocking the writer: the on-disk form is a bitmap of the whole disk, so a spill
///   needs no other structure;
/// - a full scan that is owed (initial replication, a stream gap, a crash without a usable log) is recorded in the log,
///   so a crash in the middle of it leads to a full scan again, never to a partial one.
/// On disk: the geometry (disk size, extent size), then two slots written alternately (generation even → slot 0, odd → slot 1), each `magic, version, generation,
/// disk size, extent size, flags, bitmap, XxHash64`; the valid slot with the highest generation wins, so a torn write
/// of one slot leaves the other.
/// </summary>
public sealed class ActivityLog : IDisposable
{
    const uint Magic = 0x4C415253; // "SRAL"
    const int Version = 1;
    const int HeaderBytes = 4 + 4 + 8 + 8 + 4 + 4;
    const int FlagFullScanOwed = 1;

    /// <summary>Default extent size: what one logged entry covers.</summary>
    public const int DefaultExtentBytes = 4 << 20;

    readonly SafeFileHandle _file;
    readonly long _diskSize;
    readonly int _extentBytes;
    readonly int _capacity;
    readonly int _slotBytes;
    readonly byte[] _slot;
    // Extent → the last sequence written in it (long.MaxValue: not yet numbered — a dirty region, or a resend owed).
    readonly Dictionary<long, long> _lastSequence = [];
    readonly LinkedList<long> _recent = new();
    readonly Dictionary<long, LinkedListNode<long>> _recentNodes = [];
    long _generation;
    bool _fullScanOwed;
    bool _persistedFullScanOwed;

    ActivityLog(SafeFileHandle file, string path, long diskSize, int extentBytes, int capacity)
    {
        _file = file;
        Path = path;
        _diskSize = diskSize;
        _extentBytes = extentBytes;
        _capacity = capacity;
        var bitmapBytes = (int)((ExtentCount + 7) / 8);
        _slotBytes = HeaderBytes + bitmapBytes + 8;
        _slot = new byte[_slotBytes];
    }

    public string Path { get; }
    public int ExtentBytes => _extentBytes;
    long ExtentCount => (_diskSize + _extentBytes - 1) / _extentBytes;

    /// <summary>Extents in the log now (in memory; the file may still list a few acknowledged ones).</summary>
    public int Count => _lastSequence.Count;

    /// <summary>How many times the log was written to disk since open (each a write and an fsync).</summary>
    public long Writes { get; private set; }

    /// <summary>What the log held when it was opened, after a stop that was not clean.</summary>
    public sealed record Recovered(IReadOnlyList<long> Extents, bool FullScanOwed);

    /// <summary>
    /// Opens (creating if missing) the log at <paramref name="path"/>. <paramref name="recovered"/> is what it held, or null
    /// when there was no usable log; <paramref name="why"/> then says why (missing, damaged, made for another disk size).
    /// </summary>
    public static ActivityLog Open(string path, long diskSize, int extentBytes, int capacity, out Recovered? recovered, out string? why)
    {
        if (extentBytes < 64 << 10 || (extentBytes & (extentBytes - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(extentBytes), $"activity log extent size {extentBytes} must be a power of two of at least 64 KiB");
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), $"activity log capacity {capacity} must be at least 1 extent");
        var existed = File.Exists(path);
        var file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        // A new log must survive a power loss as a name too, or the next start would find none and scan the whole disk.
        if (!existed) SiteRecovery.Contracts.Storage.DirectorySync.Flush(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var log = new ActivityLog(file, path, diskSize, extentBytes, capacity);
        recovered = null;
        why = null;
        if (!existed) why = $"no activity log at {path}";
        else recovered = log.Load(out why);
        return log;
    }

    // The file starts with its geometry (magic, version, disk size, extent size), written by Reset; the two slots follow.
    const int FileHeaderBytes = 24;

    Recovered? Load(out string? why)
    {
        (long Generation, bool FullScanOwed, List<long> Extents)? best = null;
        string? last = null;
        var length = RandomAccess.GetLength(_file);
        var header = new byte[FileHeaderBytes];
        if (length < FileHeaderBytes || RandomAccess.Read(_file, header, 0) < FileHeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            why = $"{Path} has no activity-log header";
            return null;
        }
        var fileSize = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8));
        var fileExtent = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16));
        if (fileSize != _diskSize || fileExtent != _extentBytes)
        {
            why = $"{Path} was written for a disk of {fileSize} bytes in {fileExtent}-byte extents, not {_diskSize} in {_extentBytes}";
            return null;
        }
        var buffer = new byte[_slotBytes];
        for (var slot = 0; slot < 2; slot++)
        {
            if (length < FileHeaderBytes + (long)(slot + 1) * _slotBytes) { last ??= $"{Path} is {length} bytes, shorter than its slots"; continue; }
            RandomAccess.Read(_file, buffer, FileHeaderBytes + (long)slot * _slotBytes);
            var b = buffer.AsSpan();
            if (BinaryPrimitives.ReadUInt32LittleEndian(b) != Magic) { last = $"{Path} slot {slot} has no activity-log header"; continue; }
            if (BinaryPrimitives.ReadInt32LittleEndian(b[4..]) != Version) { last = $"{Path} slot {slot} has an unknown version"; continue; }
            // The geometry first: a log for another size has slots of another length, so its checksum would not even line up.
            var size = BinaryPrimitives.ReadInt64LittleEndian(b[16..]);
            var extent = BinaryPrimitives.ReadInt32LittleEndian(b[24..]);
            if (size != _diskSize || extent != _extentBytes) { last = $"{Path} was written for a disk of {size} bytes in {extent}-byte extents, not {_diskSize} in {_extentBytes}"; break; }
            if (XxHash64.HashToUInt64(b[..^8]) != BinaryPrimitives.ReadUInt64LittleEndian(b[^8..])) { last = $"{Path} slot {slot} fails its checksum"; continue; }
            var generation = BinaryPrimitives.ReadInt64LittleEndian(b[8..]);
            if (best is { } kept && kept.Generation >= generation) continue;
            var flags = BinaryPrimitives.ReadInt32LittleEndian(b[28..]);
            var extents = new List<long>();
            var bitmap = b[HeaderBytes..^8];
            for (long e = 0; e < ExtentCount; e++)
                if ((bitmap[(int)(e >> 3)] & (1 << (int)(e & 7))) != 0) extents.Add(e);
            best = (generation, (flags & FlagFullScanOwed) != 0, extents);
        }
        if (best is not { } found) { why = last ?? $"{Path} holds no valid slot"; return null; }
        why = null;
        _generation = found.Generation;
        return new Recovered(found.Extents, found.FullScanOwed);
    }

    /// <summary>
    /// Starts from <paramref name="owed"/>: extents whose resend is owed (the recovered ones, until the resync that covers
    /// them is acknowledged), plus a full-scan-owed flag; persisted at once.
    /// </summary>
    public void Reset(IEnumerable<long> owed, bool fullScanOwed)
    {
        _lastSequence.Clear();
        _recent.Clear();
        _recentNodes.Clear();
        foreach (var e in owed) Touch(e, long.MaxValue);
        _fullScanOwed = fullScanOwed;
        var header = new byte[FileHeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), Version);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), _diskSize);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), _extentBytes);
        RandomAccess.Write(_file, header, 0);
        Persist();
    }

    /// <summary>Extents touched by <c>[offset, offset + length)</c>.</summary>
    public (long First, long Last) ExtentsOf(long offset, long length) =>
        (offset / _extentBytes, (offset + Math.Max(1, length) - 1) / _extentBytes);

    /// <summary>
    /// Makes sure every extent of the range is in the log on disk before the write touches the source. Writes the log
    /// (and fsyncs it) only when an extent is new; first forgets the least recently written extents that
    /// <paramref name="forgettable"/> allows, down to the capacity.
    /// </summary>
    public void EnsureLogged(long offset, long length, Func<long, long, bool> forgettable)
    {
        var (first, last) = ExtentsOf(offset, length);
        var added = false;
        for (var e = first; e <= last; e++)
        {
            if (_lastSequence.ContainsKey(e)) { MoveToFront(e); continue; }
            Touch(e, long.MaxValue);
            added = true;
        }
        if (!added && !(_persistedFullScanOwed && !_fullScanOwed)) return;
        if (_lastSequence.Count > _capacity) Forget(forgettable, first, last);
        Persist();
    }

    /// <summary>The write (or resend) of the range is numbered: its extents are done once <paramref name="sequence"/> is acknowledged.</summary>
    public void Noted(long offset, long length, long sequence)
    {
        var (first, last) = ExtentsOf(offset, length);
        for (var e = first; e <= last; e++)
            if (_lastSequence.ContainsKey(e)) _lastSequence[e] = sequence;
    }

    /// <summary>The resync that covered every owed extent finished at <paramref name="sequence"/>: they are done once it is acknowledged.</summary>
    public void ResyncFinished(long sequence, bool fullScan)
    {
        foreach (var e in _lastSequence.Where(kv => kv.Value == long.MaxValue).Select(kv => kv.Key).ToList()) _lastSequence[e] = sequence;
        if (fullScan) _fullScanOwed = false; // written with the next change, or at once by MarkFullScanOwed's callers
    }

    /// <summary>A full scan starts (and is owed until it is done): recorded on disk before it starts.</summary>
    public void MarkFullScanOwed()
    {
        _fullScanOwed = true;
        Persist();
    }

    void Touch(long extent, long sequence)
    {
        _lastSequence[extent] = sequence;
        MoveToFront(extent);
    }

    void MoveToFront(long extent)
    {
        if (_recentNodes.TryGetValue(extent, out var node)) _recent.Remove(node);
        else _recentNodes[extent] = node = new LinkedListNode<long>(extent);
        _recent.AddFirst(node);
    }

    void Forget(Func<long, long, bool> forgettable, long keepFirst, long keepLast)
    {
        var node = _recent.Last;
        while (node is not null && _lastSequence.Count > _capacity)
        {
            var previous = node.Previous;
            var e = node.Value;
            if ((e < keepFirst || e > keepLast) && forgettable(e, _lastSequence[e]))
            {
                _lastSequence.Remove(e);
                _recent.Remove(node);
                _recentNodes.Remove(e);
            }
            node = previous;
        }
    }

    void Persist()
    {
        var b = _slot.AsSpan();
        b.Clear();
        _generation++;
        BinaryPrimitives.WriteUInt32LittleEndian(b, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], Version);
        BinaryPrimitives.WriteInt64LittleEndian(b[8..], _generation);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], _diskSize);
        BinaryPrimitives.WriteInt32LittleEndian(b[24..], _extentBytes);
        BinaryPrimitives.WriteInt32LittleEndian(b[28..], _fullScanOwed ? FlagFullScanOwed : 0);
        var bitmap = b[HeaderBytes..^8];
        foreach (var e in _lastSequence.Keys) bitmap[(int)(e >> 3)] |= (byte)(1 << (int)(e & 7));
        BinaryPrimitives.WriteUInt64LittleEndian(b[^8..], XxHash64.HashToUInt64(b[..^8]));
        RandomAccess.Write(_file, _slot, FileHeaderBytes + (_generation & 1) * _slotBytes);
        RandomAccess.FlushToDisk(_file);
        _persistedFullScanOwed = _fullScanOwed;
        Writes++;
    }

    public void Dispose() => _file.Dispose();
}
