using System.Collections.Immutable;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Journal.Resync;

/// <summary>
/// One resync of a disk as a range of its stream: from the sequence of its begin marker up to, not including, the
/// sequence of its end marker (<see cref="To"/> null while it runs). Every sequence inside is a state the source
/// never had as a whole, so none is a recovery point.
/// </summary>
public sealed record ResyncRange(long From, long? To, ResyncReason Reason)
{
    public bool Covers(long sequence) => sequence >= From && (To is null || sequence < To);

    public override string ToString() => To is { } to
        ? $"resync ({Reason}) from #{From} to #{to}"
        : $"resync ({Reason}) running since #{From}";
}

/// <summary>
/// The resync ranges of one disk, built from the markers in its stream in sequence order (pure; the master target keeps
/// it beside the journal). Invariants: ranges are disjoint and ordered; at most one is open, and it is the last; a
/// begin while one is open keeps the open one (it already excludes everything after its start); an end closes the open
/// one, and an end with none open changes nothing.
/// </summary>
public sealed record ResyncRanges(ImmutableList<ResyncRange> Ranges)
{
    public static ResyncRanges Empty { get; } = new(ImmutableList<ResyncRange>.Empty);

    /// <summary>The running resync, if any.</summary>
    public ResyncRange? Open => Ranges.Count > 0 && Ranges[^1].To is null ? Ranges[^1] : null;

    /// <summary>The state after the marker at <paramref name="sequence"/>. Markers come in sequence order; an older one (a resend) changes nothing.</summary>
    public ResyncRanges Apply(long sequence, bool begin, ResyncReason reason)
    {
        if (Ranges.Count > 0 && sequence <= (Ranges[^1].To ?? Ranges[^1].From)) return this;
        if (begin) return Open is null ? new(Ranges.Add(new ResyncRange(sequence, null, reason))) : this;
        return Open is { } open ? new(Ranges.SetItem(Ranges.Count - 1, open with { To = sequence })) : this;
    }

    /// <summary>The range <paramref name="sequence"/> falls in, or null when the stream is crash-consistent there.</summary>
    public ResyncRange? Covering(long sequence)
    {
        for (var i = Ranges.Count - 1; i >= 0; i--)
        {
            var r = Ranges[i];
            if (r.Covers(sequence)) return r;
            if ((r.To ?? long.MaxValue) <= sequence) return null;
        }
        return null;
    }

    /// <summary>The newest crash-consistent sequence at or before <paramref name="sequence"/> (0 when there is none).</summary>
    public long LastConsistentAtOrBefore(long sequence)
    {
        var s = sequence;
        while (s > 0 && Covering(s) is { } r) s = r.From - 1;
        return Math.Max(0, s);
    }

    /// <summary>Drops ranges that end at or before <paramref name="oldestSequence"/>: nothing below the window can be named anyway.</summary>
    public ResyncRanges Below(long oldestSequence) =>
        Ranges.Any(r => r.To is { } to && to <= oldestSequence) ? new(Ranges.RemoveAll(r => r.To is { } to && to <= oldestSequence)) : this;
}
