using System.Collections.Immutable;

namespace SiteRecovery.Actors.DataPath;

/// <summary>A bookmark marker in a disk's retention journal: what its recovery point is recorded from.</summary>
public sealed record DurableMarker(long Sequence, string Name, long TimeUnixMs);

/// <summary>
/// Which of a disk's bookmark markers still owe the catalogue a report, kept pure so its rule is tested on its own.
/// <para>The rule: every marker at or below <see cref="SeenThrough"/> is either settled (the catalogue answered its
/// report, or it is no point of its own) or <see cref="Pending"/> (reported, no answer yet). Markers above it that the
/// journal holds are <see cref="Unreported"/> or not seen yet. The ledger is kept beside the journal, so a master target
/// that restarts reports its pending markers again and looks for markers it never saw only above
/// <see cref="SeenThrough"/>: a point whose marker is durable is not lost to a crash between the journal's fsync and the
/// catalogue's write, however long the catalogue was away, and a restart reads only the journal's last moments.</para>
/// </summary>
public sealed record PointLedger(long SeenThrough, ImmutableSortedDictionary<long, DurableMarker> Unreported, ImmutableSortedDictionary<long, DurableMarker> Pending)
{
    public static readonly PointLedger Empty = new(0, ImmutableSortedDictionary<long, DurableMarker>.Empty, ImmutableSortedDictionary<long, DurableMarker>.Empty);

    /// <summary>
    /// The ledger as a restart finds it: <paramref name="pending"/> were reported and never known to be answered, so they
    /// are reported again (they become <see cref="Unreported"/>).
    /// </summary>
    public static PointLedger Restored(long seenThrough, IEnumerable<DurableMarker> pending) =>
        Empty with { SeenThrough = seenThrough, Unreported = pending.ToImmutableSortedDictionary(m => m.Sequence, m => m) };

    /// <summary>A marker appended to the journal (before it is durable). One already settled or in hand changes nothing.</summary>
    public PointLedger Appended(DurableMarker marker) =>
        marker.Sequence <= SeenThrough || Pending.ContainsKey(marker.Sequence)
            ? this
            : this with { Unreported = Unreported.SetItem(marker.Sequence, marker) };

    /// <summary>The unreported markers durable through <paramref name="durableThrough"/>, in sequence order: they are reported now, so they become pending.</summary>
    public (PointLedger Ledger, IReadOnlyList<DurableMarker> ToReport) TakeDurable(long durableThrough)
    {
        var due = Unreported.Values.TakeWhile(m => m.Sequence <= durableThrough).ToList();
        if (due.Count == 0) return (this, due);
        var keys = due.Select(m => m.Sequence);
        return (this with { Unreported = Unreported.RemoveRange(keys), Pending = Pending.SetItems(due.Select(m => KeyValuePair.Create(m.Sequence, m))) }, due);
    }

    /// <summary>The catalogue answered the marker's report (recorded, already there, or refused with a reason), or it is no point of its own.</summary>
    public PointLedger Settled(long sequence) => Pending.ContainsKey(sequence) ? this with { Pending = Pending.Remove(sequence) } : this;

    /// <summary>
    /// Every marker through <paramref name="durableThrough"/> has been <see cref="Appended"/> (the journal is durable that far
    /// and appends go through the ledger first): <see cref="SeenThrough"/> moves up to it, short of the first unreported one.
    /// </summary>
    public PointLedger Passed(long durableThrough)
    {
        var bound = Unreported.IsEmpty ? durableThrough : Math.Min(durableThrough, Unreported.Keys.First() - 1);
        return bound > SeenThrough ? this with { SeenThrough = bound } : this;
    }
}
