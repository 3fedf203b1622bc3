namespace SiteRecovery.Journal.Checkpoints;

/// <summary>
/// Non-overlapping extents of a disk ordered by start: which journal record each byte range last came from.
/// Overlaying a newer extent cuts what it covers out of older ones (latest write wins), so the map's size follows
/// the number of distinct live ranges, never the amount of churn. Not thread-safe; <see cref="Freeze"/> gives a
/// read-only copy that is.
/// </summary>
public sealed class ExtentMap
{
    private static readonly Comparer<Extent> ByStart = Comparer<Extent>.Create((a, b) => a.Start.CompareTo(b.Start));
    private readonly SortedSet<Extent> _set;

    public ExtentMap() => _set = new SortedSet<Extent>(ByStart);

    private ExtentMap(IEnumerable<Extent> extents) => _set = new SortedSet<Extent>(extents, ByStart);

    public int Count => _set.Count;

    /// <summary>The extents in disk order.</summary>
    public IEnumerable<Extent> Extents => _set;

    public static ExtentMap From(IEnumerable<Extent> extents) => new(extents);

    /// <summary>Makes <paramref name="e"/> the content of its range, trimming or removing whatever it overlaps.</summary>
    public void Overlay(Extent e)
    {
        if (e.Length <= 0) return;
        var end = e.End;
        List<Extent>? removed = null;
        if (e.Start > long.MinValue && _set.Count > 0)
        {
            var before = _set.GetViewBetween(Key(long.MinValue), Key(e.Start - 1));
            if (before.Count > 0 && before.Max.End > e.Start) (removed ??= []).Add(before.Max);
        }
        foreach (var x in _set.GetViewBetween(Key(e.Start), Key(end - 1))) (removed ??= []).Add(x);
        if (removed is not null)
            foreach (var x in removed)
            {
                _set.Remove(x);
                if (x.Start < e.Start) _set.Add(x.Slice(x.Start, e.Start));
                if (x.End > end) _set.Add(x.Slice(end, x.End));
            }
        _set.Add(e);
    }

    /// <summary>Drops extents from records at or below <paramref name="sequence"/>: the base image now holds their bytes.</summary>
    public void RemoveAtOrBelow(long sequence) => _set.RemoveWhere(x => x.Sequence <= sequence);

    public ExtentMap Clone() => new(_set);

    public FrozenExtents Freeze() => new([.. _set]);

    private static Extent Key(long start) => new(start, 0, 0, ExtentKind.Zero, default, 0);
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
