using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Placement;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

public sealed class PlacementProperties
{
    private static readonly Gen<MasterTargetCandidate[]> MasterTargets =
        from n in Gen.Choose(0, 5)
        from slots in Gen.ArrayOf(Gen.Choose(0, 31), n)
        select slots.Select((s, i) => new MasterTargetCandidate($"mt-{i}", s)).ToArray();

    private static readonly Gen<ProcessServerCandidate[]> ProcessServers =
        from n in Gen.Choose(0, 4)
        from caps in Gen.ArrayOf(Gen.Choose(0, 200), n)
        select caps.Select((c, i) => new ProcessServerCandidate($"ps-{i}", c)).ToArray();

    private static readonly Gen<MachineDisk[]> Disks =
        Gen.Choose(1, 31).Select(n => Enumerable.Range(0, n).Select(i => new MachineDisk($"d{i}", 1L << 30)).ToArray());

    /// <summary>Places a stream of machines, consuming capacity as it goes (what the orchestrator does).</summary>
    [Property(MaxTest = 300)]
    public Property Never_splits_a_machine_and_never_exceeds_capacity() =>
        Prop.ForAll(
            (from mts in MasterTargets
             from pss in ProcessServers
             from machines in Gen.ArrayOf(Gen.Zip(Disks, Gen.Choose(0, 120)))
             select (mts, pss, machines)).ToArbitrary(),
            input =>
            {
                var free = input.mts.ToDictionary(m => m.Id, m => m.FreeSlots);
                var left = input.pss.ToDictionary(p => p.Id, p => (double)p.ChurnCapacityLeftMBps);
                foreach (var (disks, churn) in input.machines)
                {
                    var mts = free.Select(kv => new MasterTargetCandidate(kv.Key, kv.Value)).ToList();
                    var pss = left.Select(kv => new ProcessServerCandidate(kv.Key, kv.Value)).ToList();
                    var result = Placement.Place(disks, mts, pss, churn);
                    var mtFits = mts.Where(m => m.FreeSlots >= disks.Length).ToList();
                    var psFits = pss.Where(p => p.ChurnCapacityLeftMBps >= churn).ToList();
                    switch (result)
                    {
                        case PlacementResult.Placed placed:
                            // One master target id for the whole machine; it had the slots and the PS had the churn capacity.
                            Assert.True(free[placed.Decision.MasterTargetId] >= disks.Length);
                            Assert.True(left[placed.Decision.ProcessServerId] >= churn);
                            // Deterministic tie-break: most free, then id.
                            var expectedMt = mtFits.OrderByDescending(m => m.FreeSlots).ThenBy(m => m.Id, StringComparer.Ordinal).First();
                            Assert.Equal(expectedMt.Id, placed.Decision.MasterTargetId);
                            free[placed.Decision.MasterTargetId] -= disks.Length;
                            left[placed.Decision.ProcessServerId] -= churn;
                            break;
                        case PlacementResult.Failed failed:
                            Assert.Equal(mtFits.Count == 0, failed.Failure.NeedsMasterTarget);
                            Assert.Equal(psFits.Count == 0, failed.Failure.NeedsProcessServer);
                            if (failed.Failure.NeedsMasterTarget) Assert.Contains("add a master target", failed.Failure.Message);
                            if (failed.Failure.NeedsProcessServer) Assert.Contains("add a process server", failed.Failure.Message);
                            break;
                    }

                    Assert.All(free.Values, v => Assert.True(v >= 0));
                    Assert.All(left.Values, v => Assert.True(v >= 0));
                }
            });

    [Fact]
    public void Failure_message_says_what_to_add()
    {
        var disks = Enumerable.Range(0, 5).Select(i => new MachineDisk($"d{i}", 1)).ToArray();
        var r = Assert.IsType<PlacementResult.Failed>(Placement.Place(disks,
            [new("mt-1", 2), new("mt-2", 3)], [new("ps-1", 100)], 10));
        Assert.Equal("add a master target: no master target has 5 free data-disk slots (most free: 3 on mt-2)", r.Failure.Message);

        var ps = Assert.IsType<PlacementResult.Failed>(Placement.Place(disks, [new("mt-1", 15)], [new("ps-1", 25), new("ps-2", 20)], 40));
        Assert.Equal("add a process server: no process server has 40 MB/s of churn capacity left (most left: 25 MB/s on ps-1)", ps.Failure.Message);

        var both = Assert.IsType<PlacementResult.Failed>(Placement.Place(disks, [], [], 1));
        Assert.True(both.Failure.NeedsMasterTarget && both.Failure.NeedsProcessServer);
        Assert.Contains("add a master target: no master target is available", both.Failure.Message);
        Assert.Contains("add a process server: no process server is available", both.Failure.Message);
    }

    [Fact]
    public void Ties_break_on_most_free_then_id_and_exact_fit_is_enough()
    {
        var disks = new[] { new MachineDisk("d0", 1), new MachineDisk("d1", 1) };
        var r = Assert.IsType<PlacementResult.Placed>(Placement.Place(disks,
            [new("mt-b", 7), new("mt-a", 7), new("mt-c", 2)], [new("ps-b", 10), new("ps-a", 10)], 10));
        Assert.Equal(new PlacementDecision("mt-a", "ps-a"), r.Decision);
        var exact = Assert.IsType<PlacementResult.Placed>(Placement.Place(disks, [new("mt-c", 2)], [new("ps-x", 10)], 10));
        Assert.Equal("mt-c", exact.Decision.MasterTargetId);
    }
}
