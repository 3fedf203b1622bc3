namespace SiteRecovery.Journal.Checkpoints;

/// <summary>
/// Non-overlapping extents of a disk ordered by start: which journal record each byte range last came from.
/// Overlaying a newer extent cuts what it covers out of older ones (latest write wins), so the map's size follows
/// the number of distinct live ranges, never the amount of churn. Not thread-safe; <see cref="Freeze"/> gives a
/// read-only copy that is.
/// </summary>
/// <remarks>
/// Every replicated write is overlaid here, so an overlay must cost O(log n) however many extents a large disk
/// has. The extents live in sorted chunks of bounded size: finding a position is two binary searches, and an
/// insert or removal moves at most one chunk's elements. (A SortedSet view's Count and Max walk the whole view,
/// which made each overlay linear in the map's size.)
/// </remarks>
public sealed class ExtentMap
{
    private const int ChunkLimit = 512;

    // Each chunk is non-empty and sorted by start; chunks are in disk order.
    private readonly List<List<Extent>> _chunks = [];

    public ExtentMap() { }

    private ExtentMap(IEnumerable<Extent> extents)
    {
        var sorted = extents.ToList();
        sorted.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (var i = 1; i < sorted.Count; i++)
            if (sorted[i - 1].End > sorted[i].Start)
                throw new ArgumentException($"extents overlap at {sorted[i].Start}: an extent map holds disjoint ranges", nameof(extents));
        for (var i = 0; i < sorted.Count; i += ChunkLimit / 2)
            _chunks.Add(sorted.GetRange(i, Math.Min(ChunkLimit / 2, sorted.Count - i)));
        Count = sorted.Count;
    }

    public int Count { get; private set; }

    /// <summary>The extents in disk order.</summary>
    public IEnumerable<Extent> Extents => _chunks.SelectMany(c => c);

    public static ExtentMap From(IEnumerable<Extent> extents) => new(extents);

    /// <summary>Makes <paramref name="e"/> the content of its range, trimming or removing whatever it overlaps.</summary>
    public void Overlay(Extent e)
    {
        if (e.Length <= 0) return;
        var end = e.End;
        var (c, i) = LastAtOrBefore(e.Start);
        if (c < 0) (c, i) = (0, 0);
        else if (_chunks[c][i].End <= e.Start) (c, i) = Next(c, i);

        // From the first extent that overlaps, cut out [e.Start, end): keep the parts outside it.
        Extent? head = null, tail = null;
        while (c < _chunks.Count && _chunks[c][i].Start < end)
        {
            var x = _chunks[c][i];
            if (x.Start < e.Start) head = x.Slice(x.Start, e.Start);
            if (x.End > end) tail = x.Slice(end, x.End);
            (c, i) = RemoveAt(c, i);
        }
        if (head is { } h) Insert(h);
        Insert(e);
        if (tail is { } t) Insert(t);
    }

    /// <summary>Drops extents from records at or below <paramref name="sequence"/>: the base image now holds their bytes.</summary>
    public void RemoveAtOrBelow(long sequence)
    {
        foreach (var chunk in _chunks) Count -= chunk.RemoveAll(x => x.Sequence <= sequence);
        _chunks.RemoveAll(chunk => chunk.Count == 0);
    }

    public ExtentMap Clone() => new(Extents);

    public FrozenExtents Freeze() => new([.. Extents]);

    /// <summary>Position of the last extent starting at or before <paramref name="start"/>, or (-1, -1).</summary>
    private (int Chunk, int Index) LastAtOrBefore(long start)
    {
        int lo = 0, hi = _chunks.Count - 1, chunk = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_chunks[mid][0].Start <= start) { chunk = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (chunk < 0) return (-1, -1);
        var list = _chunks[chunk];
        lo = 0; hi = list.Count - 1;
        var index = 0;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (list[mid].Start <= start) { index = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return (chunk, index);
    }

    private (int, int) Next(int c, int i) => i + 1 < _chunks[c].Count ? (c, i + 1) : (c + 1, 0);

    /// <summary>Removes the extent at (c, i) and returns the position of the one that followed it.</summary>
    private (int, int) RemoveAt(int c, int i)
    {
        var chunk = _chunks[c];
        chunk.RemoveAt(i);
        Count--;
        if (chunk.Count == 0)
        {
            _chunks.RemoveAt(c);
            return (c, 0);
        }
        return i < chunk.Count ? (c, i) : (c + 1, 0);
    }

    private void Insert(Extent x)
    {
        Count++;
        if (_chunks.Count == 0)
        {
            _chunks.Add([x]);
            return;
        }
        var (c, i) = LastAtOrBefore(x.Start);
        if (c < 0) (c, i) = (0, -1); // before everything: the front of the first chunk
        var chunk = _chunks[c];
        chunk.Insert(i + 1, x);
        if (chunk.Count > ChunkLimit)
        {
            var half = chunk.Count / 2;
            _chunks.Insert(c + 1, chunk.GetRange(half, chunk.Count - half));
            chunk.RemoveRange(half, chunk.Count - half);
        }
    }
}

/// <summary>An immutable extent map with binary-search lookup, safe to read from many threads.</summary>
public sealed class FrozenExtents(Extent[] extents)
{
    private readonly long[] _starts = Array.ConvertAll(extents, e => e.Start);

    public IReadOnlyList<Extent> All => extents;

    /// <summary>Index of the first extent that may overlap [<paramref name="offset"/>, …).</summary>
    public int FirstAtOrAfter(long offset)
    {
        var i = Array.BinarySearch(_starts, offset);
        if (i >= 0) return i;
        i = ~i;
        return i > 0 && extents[i - 1].End > offset ? i - 1 : i;
    }
}
