namespace SiteRecovery.Chaos.Tests.Harness;

/// <summary>How a write ended for the writer: the NBD server answered success, or it did not (error, cut connection, timeout).</summary>
public enum WriteOutcome { InFlight, Acknowledged, Unknown }

/// <summary>One write the harness sent to one disk's export.</summary>
public sealed record LedgerWrite(long Id, int Block, long Generation, WriteOutcome Outcome)
{
    public Stamp Stamp => new(Block, Generation, Id);
}

/// <summary>
/// A bookmark the node confirmed, taken between two writes of a sequential writer: every write with an id below
/// <paramref name="Cut"/> was answered (or given up) before the bookmark was asked, every other one was sent after
/// the node's answer.
/// </summary>
public sealed record LedgerPoint(string Bookmark, long Cut);

/// <summary>
/// The reference of one disk: every write in the order it was sent, and the confirmed bookmarks between them. The writer
/// is sequential (one write outstanding), so ids are send order and a bookmark's cut is exact. Thread-safe: the writer
/// adds while the harness reads counts.
/// </summary>
public sealed class WriteLedger(string disk)
{
    readonly List<LedgerWrite> _writes = [];
    readonly List<LedgerPoint> _points = [];
    readonly List<LedgerPoint> _unconfirmed = [];
    readonly Dictionary<int, long> _generations = [];

    public string Disk { get; } = disk;

    public IReadOnlyList<LedgerWrite> Writes { get { lock (_writes) return _writes.ToList(); } }
    public IReadOnlyList<LedgerPoint> Points { get { lock (_writes) return _points.ToList(); } }
    public int Acknowledged { get { lock (_writes) return _writes.Count(w => w.Outcome == WriteOutcome.Acknowledged); } }
    public int Unknown { get { lock (_writes) return _writes.Count(w => w.Outcome == WriteOutcome.Unknown); } }

    /// <summary>Records a write about to be sent to <paramref name="block"/> (its generation is the block's next one).</summary>
    public LedgerWrite Send(int block)
    {
        lock (_writes)
        {
            if (_writes.Count > 0 && _writes[^1].Outcome == WriteOutcome.InFlight)
                throw new InvalidOperationException($"{Disk}: write {_writes[^1].Id} is still in flight; the writer is sequential");
            var generation = _generations.GetValueOrDefault(block) + 1;
            _generations[block] = generation;
            var w = new LedgerWrite(_writes.Count, block, generation, WriteOutcome.InFlight);
            _writes.Add(w);
            return w;
        }
    }

    /// <summary>Settles the write in flight.</summary>
    public void Settle(LedgerWrite write, WriteOutcome outcome)
    {
        lock (_writes)
        {
            if (_writes[(int)write.Id].Outcome != WriteOutcome.InFlight) throw new InvalidOperationException($"{Disk}: write {write.Id} settled twice");
            _writes[(int)write.Id] = write with { Outcome = outcome };
        }
    }

    /// <summary>The cut a bookmark asked now would have: every write sent so far, none in flight.</summary>
    public long Cut()
    {
        lock (_writes)
        {
            if (_writes.Count > 0 && _writes[^1].Outcome == WriteOutcome.InFlight)
                throw new InvalidOperationException($"{Disk}: a bookmark between writes, not during write {_writes[^1].Id}");
            return _writes.Count;
        }
    }

    public void Confirmed(string bookmark, long cut)
    {
        lock (_writes) _points.Add(new LedgerPoint(bookmark, cut));
    }

    /// <summary>
    /// A bookmark the node did not confirm (it was down, or answered that the marker may yet become a point). The writer
    /// waited for the answer, so if it did become a point, that point is at this cut too.
    /// </summary>
    public void Unconfirmed(string bookmark, long cut)
    {
        lock (_writes) _unconfirmed.Add(new LedgerPoint(bookmark, cut));
    }

    public IReadOnlyList<LedgerPoint> UnconfirmedPoints { get { lock (_writes) return _unconfirmed.ToList(); } }
}
