namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>What a recovered block held that its point does not allow.</summary>
public enum FindingKind
{
    /// <summary>A write acknowledged before the point is missing (the block holds what was there before it, or bytes no write wrote).</summary>
    Lost,
    /// <summary>The block holds a write older than one acknowledged before the point, or a write sent after the point.</summary>
    Reordered,
}

/// <summary>One block of one recovered point that breaks the rule, with the write it should have held.</summary>
public sealed record Finding(FindingKind Kind, string Disk, string Bookmark, int Block, long? ExpectedWrite, string Detail)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()}: {Disk} at {Bookmark}, block {Block}: {Detail}";
}

/// <summary>
/// The rule a recovered point is held to, block by block: it holds exactly the last write acknowledged before the
/// point's bookmark — or one of the writes sent after that one and before the bookmark whose answer never came (they
/// may or may not have reached the disk); a block no acknowledged write touched before the point may still hold its
/// initial bytes. Pure: the ledger, the point and the image's blocks in, the findings out.
/// </summary>
public static class PointCheck
{
    /// <param name="writes">The disk's ledger, in send order.</param>
    /// <param name="point">The recovered bookmark and its cut.</param>
    /// <param name="recovered">Block <c>i</c> of the recovered image (<see cref="Stamp.BlockSize"/> bytes).</param>
    /// <param name="initial">Block <c>i</c> of the disk before the first write.</param>
    public static List<Finding> Check(string disk, IReadOnlyList<LedgerWrite> writes, LedgerPoint point, int blocks,
        Func<int, byte[]> recovered, Func<int, byte[]> initial)
    {
        var before = new List<LedgerWrite>[blocks];
        for (var b = 0; b < blocks; b++) before[b] = [];
        foreach (var w in writes)
            if (w.Id < point.Cut) before[w.Block].Add(w);
        var findings = new List<Finding>();
        for (var b = 0; b < blocks; b++)
        {
            var lastAcked = before[b].LastOrDefault(w => w.Outcome == WriteOutcome.Acknowledged);
            var maybe = before[b].Where(w => w.Id > (lastAcked?.Id ?? -1) && w.Outcome != WriteOutcome.Acknowledged).ToList();
            var actual = recovered(b);
            var held = Stamp.Read(actual);
            if (held is { } s && s.Block == b && (s.WriteId == lastAcked?.Id || maybe.Any(m => m.Id == s.WriteId))
                && writes[(int)s.WriteId].Stamp == s)
                continue;
            if (held is null && lastAcked is null && actual.AsSpan().SequenceEqual(initial(b)))
                continue;
            var want = lastAcked is null ? "its initial bytes" : $"write {lastAcked.Id} (generation {lastAcked.Generation})";
            if (maybe.Count > 0) want += $" or one of unanswered writes {string.Join(',', maybe.Select(m => m.Id))}";
            findings.Add(held switch
            {
                { } h when h.Block == b && h.WriteId >= point.Cut && h.WriteId < writes.Count =>
                    new Finding(FindingKind.Reordered, disk, point.Bookmark, b, lastAcked?.Id, $"holds write {h.WriteId}, sent after the point (cut {point.Cut}); want {want}"),
                { } h when h.Block == b && h.WriteId < (lastAcked?.Id ?? -1) =>
                    new Finding(FindingKind.Reordered, disk, point.Bookmark, b, lastAcked?.Id, $"holds older write {h.WriteId} (generation {h.Generation}); want {want}"),
                { } h => new Finding(FindingKind.Lost, disk, point.Bookmark, b, lastAcked?.Id, $"holds a stamp of block {h.Block} write {h.WriteId}; want {want}"),
                null => new Finding(FindingKind.Lost, disk, point.Bookmark, b, lastAcked?.Id, $"holds no write of the harness; want {want}"),
            });
        }
        return findings;
    }
}
