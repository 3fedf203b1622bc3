using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.DataPath;
using Xunit;

namespace SiteRecovery.Integration.Tests.DataPath;

/// <summary>
/// Properties of a disk's <see cref="PointLedger"/>, played over random runs of a journal: appends (writes and
/// markers), commits, reports answered in any order, saves of the ledger, and crashes that keep only what was durable
/// and the ledger as last saved.
/// </summary>
public sealed class PointLedgerProperties
{
    enum Step { Write, Marker, Commit, Answer, Save, Crash }

    static readonly Gen<(Step Step, int Pick)> Steps =
        from step in Gen.Elements(Step.Write, Step.Marker, Step.Marker, Step.Commit, Step.Commit, Step.Answer, Step.Answer, Step.Save, Step.Crash)
        from pick in Gen.Choose(0, 1000)
        select (step, pick);

    /// <summary>
    /// After any crash, the restarted ledger (restored from its last save, then every marker the journal holds above what
    /// it had seen) reports again every durable marker whose report was never answered: no point is lost to a crash.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property A_durable_marker_never_answered_is_reported_again_after_any_crash() =>
        Prop.ForAll(Gen.ArrayOf(Steps).ToArbitrary(), steps =>
        {
            var journal = new List<(long Sequence, bool Marker)>();
            long durable = 0;
            var ledger = PointLedger.Empty;
            var saved = (SeenThrough: 0L, Kept: new List<DurableMarker>());
            var inFlight = new List<DurableMarker>();      // reported, not answered
            var answered = new HashSet<long>();
            var problems = new List<string>();
            foreach (var (step, pick) in steps)
            {
                switch (step)
                {
                    case Step.Write:
                    case Step.Marker:
                        var seq = journal.Count == 0 ? 1 : journal[^1].Sequence + 1;
                        journal.Add((seq, step == Step.Marker));
                        if (step == Step.Marker) ledger = ledger.Appended(Marker(seq));
                        break;
                    case Step.Commit:
                        durable = journal.Count == 0 ? 0 : journal[^1].Sequence;
                        (ledger, var due) = ledger.TakeDurable(durable);
                        inFlight.AddRange(due);
                        break;
                    case Step.Answer when inFlight.Count > 0:
                        var m = inFlight[pick % inFlight.Count];
                        inFlight.Remove(m);
                        answered.Add(m.Sequence);
                        ledger = ledger.Settled(m.Sequence);
                        break;
                    case Step.Save:
                        ledger = ledger.Passed(durable);
                        saved = (ledger.SeenThrough, ledger.Pending.Values.Concat(ledger.Unreported.Values).ToList());
                        break;
                    case Step.Crash:
                        // What was not durable is gone; reports in flight are never answered.
                        journal.RemoveAll(r => r.Sequence > durable);
                        inFlight.Clear();
                        ledger = PointLedger.Restored(saved.SeenThrough, saved.Kept);
                        foreach (var r in journal.Where(r => r.Marker && r.Sequence > ledger.SeenThrough)) ledger = ledger.Appended(Marker(r.Sequence));
                        ledger = ledger.Passed(durable);
                        (ledger, var again) = ledger.TakeDurable(durable);
                        var owed = journal.Where(r => r.Marker && !answered.Contains(r.Sequence)).Select(r => r.Sequence);
                        var missing = owed.Except(again.Select(a => a.Sequence)).ToList();
                        if (missing.Count > 0) problems.Add($"after a crash at durable #{durable}, markers {string.Join(", ", missing)} were not reported again");
                        inFlight.AddRange(again);
                        break;
                }
                if (ledger.Pending.Keys.Any(k => k > durable)) problems.Add($"a marker above durable #{durable} was reported");
            }
            return problems.Count == 0 ? true.Label("ok") : false.Label(string.Join("; ", problems));
        });

    /// <summary>What the ledger has seen never goes back, and never passes a marker it has not reported.</summary>
    [Property(MaxTest = 300)]
    public Property Seen_through_only_moves_forward_and_stops_short_of_unreported_markers() =>
        Prop.ForAll(Gen.ArrayOf(Gen.Choose(0, 3)).ToArbitrary(), ops =>
        {
            var ledger = PointLedger.Empty;
            long last = 0, durable = 0, seen = 0;
            foreach (var op in ops)
            {
                switch (op)
                {
                    case 0: ledger = ledger.Appended(Marker(++last)); break;
                    case 1: last++; break;
                    case 2: durable = last; break;
                    default: ledger = ledger.Passed(durable); break;
                }
                if (ledger.SeenThrough < seen) return false.Label($"seen went back from #{seen} to #{ledger.SeenThrough}");
                seen = ledger.SeenThrough;
                if (ledger.Unreported.Keys.Any(k => k <= ledger.SeenThrough)) return false.Label($"seen #{seen} passed an unreported marker");
            }
            return true.Label("ok");
        });

    [Fact]
    public void A_marker_is_reported_once_it_is_durable_and_not_again_until_a_restart()
    {
        var ledger = PointLedger.Empty.Appended(Marker(3));
        var (notYet, none) = ledger.TakeDurable(2);
        Assert.Empty(none);
        var (taken, due) = notYet.TakeDurable(3);
        Assert.Equal([3L], due.Select(m => m.Sequence));
        Assert.Empty(taken.TakeDurable(10).ToReport);
        Assert.Same(taken, taken.Appended(Marker(3))); // the same marker journaled again (a resend) is not reported twice
        Assert.Equal(5, taken.Passed(5).SeenThrough);   // a pending marker does not hold the ledger back: it is saved with it
        Assert.Empty(taken.Settled(3).Pending);
    }

    static DurableMarker Marker(long sequence) => new(sequence, $"bm{sequence}", 1_000 + sequence);
}
