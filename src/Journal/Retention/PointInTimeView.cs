using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Checkpoints;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.Retention;

/// <summary>
/// A disk as it was at <see cref="Sequence"/>, readable at random without materializing it: every range reads from
/// the journal record that last wrote it at or below the point (the extent map), or else from the base image.
/// While open it pins what it reads (the base cannot roll past the point, the journal keeps its records).
/// Thread-safe for concurrent reads.
/// </summary>
public sealed class PointInTimeView : IDisposable
{
    private const int CacheEntries = 64;
    private readonly IPointBase _base;
    private readonly SegmentLog _journal;
    private readonly DeltaCompression _compression;
    private readonly FrozenExtents _extents;
    private readonly Action _release;
    private readonly Dictionary<long, byte[]> _cache = [];
    private readonly Queue<long> _cacheOrder = new();
    private int _disposed;

    internal PointInTimeView(string diskId, long sequence, long baseSequence, IPointBase @base, SegmentLog journal, DeltaCompression compression, FrozenExtents extents, Action release)
    {
        DiskId = diskId;
        Sequence = sequence;
        BaseSequence = baseSequence;
        _base = @base;
        _journal = journal;
        _compression = compression;
        _extents = extents;
        _release = release;
    }

    public string DiskId { get; }
    public long Size => _base.Size;
    /// <summary>The point this view shows.</summary>
    public long Sequence { get; }
    /// <summary>The base sequence the view was built on.</summary>
    public long BaseSequence { get; }
    /// <summary>Ranges taken from the journal (the rest read from the base), in disk order.</summary>
    public IReadOnlyList<Extent> Extents => _extents.All;

    internal IPointBase Base => _base;

    /// <summary>Fills <paramref name="buffer"/> with the disk's bytes at <paramref name="offset"/> as of <see cref="Sequence"/>.</summary>
    public void Read(long offset, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (offset < 0 || offset + buffer.Length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"read {offset}..{offset + buffer.Length} is outside disk {DiskId}'s {Size} bytes");
        var all = _extents.All;
        var end = offset + buffer.Length;
        var pos = offset;
        var i = _extents.FirstAtOrAfter(offset);
        while (pos < end)
        {
            var dest = buffer[(int)(pos - offset)..];
            if (i < all.Count && all[i].Start <= pos)
            {
                var e = all[i];
                var take = (int)(Math.Min(end, e.End) - pos);
                if (e.Kind == ExtentKind.Zero) dest[..take].Clear();
                else Payload(e).AsSpan(e.DataOffset + (int)(pos - e.Start), take).CopyTo(dest);
                pos += take;
                i++;
            }
            else
            {
                var next = i < all.Count ? Math.Min(end, all[i].Start) : end;
                _base.Read(pos, dest[..(int)(next - pos)]);
                pos = next;
            }
        }
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        Read(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>The uncompressed, checksum-verified payload of the write record behind <paramref name="e"/>.</summary>
    internal byte[] Payload(Extent e)
    {
        lock (_cache)
            if (_cache.TryGetValue(e.Sequence, out var hit)) return hit;
        var payload = LoadPayload(e);
        lock (_cache)
        {
            if (_cache.TryAdd(e.Sequence, payload))
            {
                _cacheOrder.Enqueue(e.Sequence);
                if (_cacheOrder.Count > CacheEntries) _cache.Remove(_cacheOrder.Dequeue());
            }
        }
        return payload;
    }

    internal byte[] LoadPayload(Extent e)
    {
        var d = _compression.DecodeStored(_journal.ReadAt(e.Location, e.Sequence));
        if (d.Sequence != e.Sequence || d.Kind != DeltaKind.Write || d.DiskId != DiskId || e.DataOffset + e.Length > d.Length)
            throw new InvalidDataException(
                $"disk {DiskId}: journal record at {e.Location} is {d.DiskId}#{d.Sequence} ({d.Kind}, {d.Length} bytes), expected a write #{e.Sequence} covering {e.DataOffset}+{e.Length}");
        return d.Payload is { } p && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(p, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length
            ? seg.Array
            : p.ToArray();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _release();
    }
}
