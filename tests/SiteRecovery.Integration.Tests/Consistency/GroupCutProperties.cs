using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Tests.Consistency;

/// <summary>
/// The coordinator's state machine (<see cref="GroupBookmarkState"/>, the real one) driving a model of agents:
/// writes on several disks of several machines interleaved at random with the delivery of holds, commits,
/// aborts and their answers, lease expiries and refusals. Writes on a held disk wait (are not acknowledged)
/// until release, as the agent's write locks make them.
/// </summary>
public class GroupCutProperties
{
    public enum Step { Write, Deliver, Expire }

    static Arbitrary<(Step[] Steps, int Seed)> Runs() =>
        Gen.Zip(
                Gen.Frequency((6, Gen.Constant(Step.Write)), (4, Gen.Constant(Step.Deliver)), (1, Gen.Constant(Step.Expire))).ArrayOf(),
                Gen.Choose(0, int.MaxValue))
            .ToArbitrary();

    sealed record W(int Id, string Disk, int Block, long Issued) { public long Acked { get; set; } = -1; }

    sealed class Disk(string name)
    {
        public string Name { get; } = name;
        public List<W?> Stream { get; } = [];          // null entries are markers
        public Dictionary<int, int> Source { get; } = [];
        public Queue<W> Waiting { get; } = new();
    }

    sealed class Machine(string name, List<Disk> disks, bool refuses, bool freezeFails)
    {
        public string Name { get; } = name;
        public List<Disk> Disks { get; } = disks;
        public bool Refuses { get; } = refuses;
        public bool FreezeFails { get; } = freezeFails;
        public bool Held { get; set; }
        public bool Ended { get; set; }   // the hold ended (abort, lease) or was aborted before it came
    }

    [Property(MaxTest = 400)]
    public Property Recovered_images_at_a_group_bookmark_are_the_sources_at_the_cut_and_aborts_record_nothing()
        => Prop.ForAll(Runs(), run =>
        {
            var rnd = new Random(run.Seed);
            var app = rnd.Next(2) == 0;
            var machines = Enumerable.Range(1, rnd.Next(2, 5)).Select(m => new Machine($"vm{m}",
                Enumerable.Range(1, rnd.Next(1, 3)).Select(d => new Disk($"vm{m}-d{d}")).ToList(),
                refuses: rnd.Next(8) == 0, freezeFails: rnd.Next(4) == 0)).ToList();
            var disks = machines.SelectMany(m => m.Disks).ToDictionary(d => d.Name);
            var clock = 0L;
            var writes = new List<W>();
            void Apply(Disk d, W w)
            {
                d.Stream.Add(w);
                d.Source[w.Block] = w.Id;
                w.Acked = ++clock;
            }
            void Release(Machine m)
            {
                m.Held = false;
                foreach (var d in m.Disks) while (d.Waiting.TryDequeue(out var w)) Apply(d, w);
            }

            var state = GroupBookmarkState.Start("gb", app, 1_000, machines.ToDictionary(m => m.Name, m => (IReadOnlyList<string>)m.Disks.Select(d => d.Name).ToList()));
            // In flight: messages to agents ("hold"/"commit"/"abort") and answers to the coordinator.
            var toAgents = machines.Select(m => (Kind: "hold", Machine: m)).ToList();
            var toCoordinator = new List<GroupBookmarkInput>();
            Dictionary<string, Dictionary<int, int>>? sourcesAtCut = null;
            RecordPoints? recorded = null;

            void Act(GroupBookmarkAction? a)
            {
                switch (a)
                {
                    case SendCommits: toAgents.AddRange(machines.Select(m => ("commit", m))); break;
                    case SendAborts: toAgents.AddRange(machines.Select(m => ("abort", m))); break;
                    case RecordPoints p: recorded = p; break;
                }
            }
            void Deliver(int pick)
            {
                var total = toAgents.Count + toCoordinator.Count;
                if (total == 0) return;
                pick %= total;
                if (pick < toCoordinator.Count)
                {
                    var input = toCoordinator[pick];
                    toCoordinator.RemoveAt(pick);
                    (state, var a) = state.Step(input);
                    Act(a);
                    if (state.Phase == GroupBookmarkPhase.AwaitingDurable && !toCoordinator.OfType<MarkerDurable>().Any())
                        toCoordinator.AddRange(state.Markers.Select(kv => new MarkerDurable(kv.Key, kv.Value)));
                    return;
                }
                var (kind, m) = toAgents[pick - toCoordinator.Count];
                toAgents.RemoveAt(pick - toCoordinator.Count);
                switch (kind)
                {
                    case "hold" when m.Refuses || m.Ended:
                        toCoordinator.Add(new HeldReported(m.Name, new Dictionary<string, long>(), "refused", null));
                        break;
                    case "hold":
                        m.Held = true;
                        toCoordinator.Add(new HeldReported(m.Name, m.Disks.ToDictionary(d => d.Name, d => (long)d.Stream.Count), null,
                            app && m.FreezeFails ? $"{m.Name}: freeze Failed" : null));
                        if (machines.All(x => x.Held))
                            sourcesAtCut = disks.Values.ToDictionary(d => d.Name, d => new Dictionary<int, int>(d.Source));
                        break;
                    case "commit" when m.Held:
                        foreach (var d in m.Disks) d.Stream.Add(null);
                        toCoordinator.Add(new CommitReported(m.Name, true, m.Disks.ToDictionary(d => d.Name, d => (long)d.Stream.Count), 1, null));
                        m.Ended = true;
                        Release(m);
                        break;
                    case "commit":
                        toCoordinator.Add(new CommitReported(m.Name, false, new Dictionary<string, long>(), 0, "hold already ended"));
                        break;
                    case "abort":
                        m.Ended = true;
                        if (m.Held) Release(m);
                        break;
                }
            }

            foreach (var step in run.Steps)
            {
                switch (step)
                {
                    case Step.Write:
                        var d = disks.Values.ElementAt(rnd.Next(disks.Count));
                        var w = new W(writes.Count + 1, d.Name, rnd.Next(8), clock);
                        writes.Add(w);
                        if (machines.Single(m => m.Disks.Contains(d)).Held) d.Waiting.Enqueue(w);
                        else Apply(d, w);
                        break;
                    case Step.Deliver: Deliver(rnd.Next()); break;
                    case Step.Expire:
                        var e = machines[rnd.Next(machines.Count)];
                        if (e.Held) { e.Ended = true; Release(e); }
                        break;
                }
            }
            // The rest arrives, in some order; a coordinator still waiting then times out.
            while (toAgents.Count + toCoordinator.Count > 0) Deliver(rnd.Next());
            if (!state.Finished) { (state, var a) = state.Step(new PhaseTimedOut()); Act(a); while (toAgents.Count > 0) Deliver(rnd.Next()); }

            if (machines.Any(m => m.Held)) return false.Label("a hold outlived the bookmark");
            if (state.Phase != GroupBookmarkPhase.Committed)
                return (recorded is null).Label($"aborted ({state.AbortReason}) but recorded points");
            if (recorded is null || sourcesAtCut is null) return false.Label("committed without points or without a moment where all were held");
            if (recorded.Points.Select(p => p.DiskId).Order().SequenceEqual(disks.Keys.Order()) is false) return false.Label("not every disk has the point");
            if (recorded.Points.Select(p => (p.BookmarkId, p.TimeUnixMs, p.Kind, p.AppConsistencyFailure)).Distinct().Count() != 1) return false.Label("points differ in id, time or kind");
            var anyFreezeFailed = app && machines.Any(m => m.FreezeFails);
            if (recorded.Points[0].Kind != (app && !anyFreezeFailed ? RecoveryPointKind.AppConsistent : RecoveryPointKind.CrashConsistent))
                return false.Label("kind claims app consistency it does not have (or drops it)");

            var included = new HashSet<int>();
            foreach (var p in recorded.Points)
            {
                var disk = disks[p.DiskId];
                if (disk.Stream[(int)p.Sequence - 1] is not null) return false.Label($"{p.DiskId}: the point is not at a marker");
                var image = new Dictionary<int, int>();
                foreach (var w in disk.Stream.Take((int)p.Sequence - 1).OfType<W>()) { image[w.Block] = w.Id; included.Add(w.Id); }
                if (!image.OrderBy(kv => kv.Key).SequenceEqual(sourcesAtCut[p.DiskId].OrderBy(kv => kv.Key)))
                    return false.Label($"{p.DiskId}: recovered image differs from the source at the cut");
            }
            // Causality: a write acknowledged before another was issued (on any machine) is in the cut whenever that one is.
            foreach (var later in writes.Where(w => included.Contains(w.Id)))
                foreach (var earlier in writes.Where(w => w.Acked >= 0 && w.Acked <= later.Issued))
                    if (!included.Contains(earlier.Id)) return false.Label($"write {later.Id} is in the cut but {earlier.Id}, acknowledged before it was issued, is not");
            return true.ToProperty();
        });
}
