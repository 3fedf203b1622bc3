using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Placement;
using Xunit;

namespace SiteRecovery.Protection.Tests;

public sealed class CapacityPlannerProperties
{
    private const long GiB = 1L << 30;

    private static readonly Gen<PlannedMachine[]> Machines =
        from n in Gen.Choose(0, 40)
        from specs in Gen.ArrayOf(Gen.Zip(Gen.Frequency((9, Gen.Choose(1, 31)), (1, Gen.Choose(32, 40))), Gen.Choose(0, 5000)), n)
        select specs.Select((s, i) => new PlannedMachine($"m{i:D2}", Enumerable.Repeat(100 * GiB, s.Item1).ToArray(), s.Item2)).ToArray();

    [Property(MaxTest = 300)]
    public Property Plan_holds_every_placeable_machine_on_one_master_target() =>
        Prop.ForAll(Machines.ToArbitrary(), Gen.Elements(16, 32).ToArbitrary(), (machines, slots) =>
        {
            var plan = CapacityPlanner.Recommend(machines, new CapacityPlanOptions(slots));
            var usable = slots - 1;
            Assert.Equal(usable, plan.UsableSlotsPerMasterTarget);
            var byId = machines.ToDictionary(m => m.MachineId);
            var placeable = machines.Where(m => plan.Unplaceable.All(u => u.MachineId != m.MachineId)).ToList();

            // Every machine with more disks than one MT holds is unplaceable, with the reason; the others are placed.
            foreach (var m in machines)
            {
                var u = plan.Unplaceable.SingleOrDefault(x => x.MachineId == m.MachineId);
                if (m.DiskSizesBytes.Count > usable)
                {
                    Assert.NotNull(u);
                    Assert.Contains($"has {m.DiskSizesBytes.Count} disks; at most {usable}", u.Reason);
                }
                else if (m.DailyChurnGB <= 4096)
                {
                    Assert.Null(u);
                }
            }

            // Each placeable machine sits in exactly one MT bin, which never exceeds the usable slots.
            var binned = plan.MasterTargetBins.SelectMany(b => b).ToList();
            Assert.Equal(placeable.Select(m => m.MachineId).Order(), binned.Order());
            Assert.All(plan.MasterTargetBins, b => Assert.True(b.Sum(id => byId[id].DiskSizesBytes.Count) <= usable));

            // Never fewer MTs than needed to hold all disks.
            var disks = placeable.Sum(m => m.DiskSizesBytes.Count);
            Assert.True(plan.MasterTargets >= (disks + usable - 1) / usable, $"{plan.MasterTargets} MTs for {disks} disks");
            Assert.Equal(plan.MasterTargetBins.Count, plan.MasterTargets);

            // Process servers: each placeable machine on one PS, no PS above its tier's churn, never fewer than total/capacity.
            Assert.Equal(placeable.Select(m => m.MachineId).Order(), plan.ProcessServerBins.SelectMany(b => b).Order());
            Assert.All(plan.ProcessServerBins, b => Assert.True(b.Sum(id => byId[id].DailyChurnGB) <= plan.Tier.ChurnPerServerGBPerDay));
            var churn = placeable.Sum(m => m.DailyChurnGB);
            Assert.True(plan.ProcessServers >= Math.Ceiling(churn / plan.Tier.ChurnPerServerGBPerDay));
            Assert.Equal(plan.ProcessServers * plan.CacheBytesPerProcessServer, plan.TotalCacheBytes);
        });

    [Fact]
    public void Machine_with_32_disks_is_unplaceable_and_31_fits()
    {
        var plan = CapacityPlanner.Recommend(
        [
            new PlannedMachine("big", Enumerable.Repeat(GiB, 32).ToArray(), 10),
            new PlannedMachine("ok", Enumerable.Repeat(GiB, 31).ToArray(), 10),
        ]);
        var u = Assert.Single(plan.Unplaceable);
        Assert.Equal("big", u.MachineId);
        Assert.Contains("has 32 disks; at most 31 data disks fit one master target (32 slots, 1 reserved for retention)", u.Reason);
        Assert.Equal(1, plan.MasterTargets);
        Assert.Equal([["ok"]], plan.MasterTargetBins);
    }

    [Fact]
    public void Sixteen_slot_masters_hold_15_and_suggest_32_slot_ones()
    {
        var plan = CapacityPlanner.Recommend(
            [new PlannedMachine("m16", Enumerable.Repeat(GiB, 16).ToArray(), 1), new PlannedMachine("m15", Enumerable.Repeat(GiB, 15).ToArray(), 1)],
            new CapacityPlanOptions(16));
        Assert.Contains("use 32-slot master targets", Assert.Single(plan.Unplaceable).Reason);
        Assert.Equal(1, plan.MasterTargets);
    }

    [Fact]
    public void First_fit_decreasing_packs_by_machine()
    {
        // 20 + 11 = 31 on one MT, 12 + 10 + 5 = 27 on another.
        int[] counts = [10, 20, 11, 12, 5];
        var plan = CapacityPlanner.Recommend(counts.Select((c, i) => new PlannedMachine($"m{i}", Enumerable.Repeat(GiB, c).ToArray(), 1)).ToList());
        Assert.Equal(2, plan.MasterTargets);
        Assert.Equal([["m1", "m2"], ["m3", "m0", "m4"]], plan.MasterTargetBins);
    }

    [Fact]
    public void Tiers_follow_total_and_busiest_machine_churn()
    {
        PlannedMachine M(string id, double churn) => new(id, [GiB], churn);

        var small = CapacityPlanner.Recommend([M("a", 200), M("b", 300)]);
        Assert.Equal("Small", small.Tier.Name);
        Assert.Equal(1, small.ProcessServers);
        Assert.Equal(300 * GiB, small.CacheBytesPerProcessServer);

        // 5 TB/day in 10 machines of 512 GB: Medium, 2 TB per PS → 3 process servers of 600 GB cache.
        var medium = CapacityPlanner.Recommend(Enumerable.Range(0, 10).Select(i => M($"m{i}", 512)).ToList());
        Assert.Equal("Medium", medium.Tier.Name);
        Assert.Equal(3, medium.ProcessServers);
        Assert.Equal(600 * GiB, medium.CacheBytesPerProcessServer);
        Assert.Equal(3 * 600 * GiB, medium.TotalCacheBytes);

        // One machine above 2 TB/day forces the Large tier even though the total is small.
        Assert.Equal("Large", CapacityPlanner.Recommend([M("hot", 3000)]).Tier.Name);
        var tooHot = Assert.Single(CapacityPlanner.Recommend([M("lava", 5000)]).Unplaceable);
        Assert.Contains("exceeds one process server's capacity", tooHot.Reason);

        var none = CapacityPlanner.Recommend([]);
        Assert.Equal(0, none.ProcessServers);
        Assert.Equal(0, none.MasterTargets);
    }

    [Fact]
    public void Disk_above_1023_GiB_is_unplaceable()
    {
        var plan = CapacityPlanner.Recommend([new PlannedMachine("m", [1023 * GiB, 1023 * GiB + 1], 1), new PlannedMachine("n", [1023 * GiB], 1)]);
        var u = Assert.Single(plan.Unplaceable);
        Assert.Equal("m", u.MachineId);
        Assert.Contains("disk 1 is", u.Reason);
    }
}
