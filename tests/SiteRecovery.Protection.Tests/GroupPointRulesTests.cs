using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary><c>latest-group</c>: one point for all the machines of a failover, on every disk of every one of them, and the newest such.</summary>
public sealed class GroupPointRulesTests
{
    static RecoveryPointView Crash(string name, long seq, long time) => new(name, seq, time, RecoveryPointKind.CrashConsistent);
    static RecoveryPointView App(string name, long seq, long time) => new(name, seq, time, RecoveryPointKind.AppConsistent);

    // Point g{i} is taken at about 1000·i on every disk that has it (each disk a few ms apart, as one cut lands).
    static readonly Gen<MachineDisks[]> Machines =
        from machineCount in Gen.Choose(1, 3)
        from disks in Gen.ArrayOf(
            from diskCount in Gen.Choose(1, 3)
            from have in Gen.ArrayOf(Gen.ArrayOf(Gen.Elements(true, true, false), 6), diskCount)
            from jitter in Gen.Choose(0, 50)
            select have.Select((names, d) => (names, d, jitter)).ToArray(), machineCount)
        select disks.Select((ds, m) => new MachineDisks($"vm{m}", ds.Select(x => new DiskPoints($"vm{m}-d{x.d}",
            x.names.Select((has, i) => (has, i)).Where(y => y.has).Select(y => Crash($"g{y.i}", 10L * y.i + x.d, 1000L * y.i + x.jitter + x.d)).ToList(),
            1_000, 9_000)).ToList())).ToArray();

    [Property(MaxTest = 500)]
    public Property The_chosen_point_is_on_every_disk_of_every_machine_and_no_newer_one_is() =>
        Prop.ForAll(Machines.ToArbitrary(), machines =>
        {
            var disks = machines.SelectMany(m => m.Disks).ToList();
            var common = Enumerable.Range(0, 6).Where(i => disks.All(d => d.Points.Any(p => p.BookmarkId == $"g{i}"))).ToList();
            var (points, error) = GroupPointRules.ChooseLatestGroup(machines);
            if (common.Count == 0)
            {
                Assert.Null(points);
                Assert.StartsWith($"no recovery point is common to every disk of {string.Join(", ", machines.Select(m => m.MachineId))}", error);
                return;
            }
            Assert.Null(error);
            Assert.Equal(machines.Select(m => m.MachineId), points!.Select(p => p.MachineId));
            var want = $"g{common.Max()}";
            foreach (var (machine, point) in machines.Zip(points))
            {
                Assert.Equal(want, point.PointName);
                Assert.Equal(machine.Disks.Select(d => d.DiskId).Order(), point.Sequences.Keys.Order());
                foreach (var d in machine.Disks)
                    Assert.Equal(d.Points.Single(p => p.BookmarkId == want).Sequence, point.Sequences[d.DiskId]);
            }
        });

    static readonly MachineDisks Vm1 = new("vm1", [
        new DiskPoints("vm1-d1", [Crash("auto-1", 10, 100), App("app-g-1", 20, 200), Crash("grp-g-2", 30, 300), Crash("vm1-own", 35, 350)], 40, 400),
        new DiskPoints("vm1-d2", [Crash("auto-1", 11, 101), App("app-g-1", 21, 201), Crash("grp-g-2", 31, 301), Crash("vm1-own", 36, 351)], 41, 401)]);
    static readonly MachineDisks Vm2 = new("vm2", [
        new DiskPoints("vm2-d1", [App("app-g-1", 5, 202), Crash("grp-g-2", 7, 302), Crash("vm2-own", 9, 500)], 12, 600)]);

    [Fact]
    public void Every_machine_gets_the_newest_point_of_all_of_them_not_its_own_newest()
    {
        var (points, error) = GroupPointRules.ChooseLatestGroup([Vm1, Vm2]);
        Assert.Null(error);
        Assert.All(points!, p => Assert.Equal("grp-g-2", p.PointName));
        Assert.Equal(new Dictionary<string, long> { ["vm1-d1"] = 30, ["vm1-d2"] = 31 }, points![0].Sequences);
        Assert.Equal(new Dictionary<string, long> { ["vm2-d1"] = 7 }, points[1].Sequences);
        Assert.Equal(301, points[0].PointTimeUnixMs);
        Assert.Equal("crash-consistent", points[0].Consistency);
        Assert.Contains("multi-VM consistent", points[0].Note);
        // Per machine, vm1 would have taken vm1-own and vm2 vm2-own: two moments.
        Assert.Equal("vm1-own", MachinePointRules.Choose("vm1", Vm1.Disks, new FailoverPointChoice("latest-processed")).Point!.PointName);
    }

    [Fact]
    public void An_application_consistent_group_point_says_so()
    {
        var vm2 = Vm2 with { Disks = [Vm2.Disks[0] with { Points = [App("app-g-1", 5, 202)] }] };
        var (points, _) = GroupPointRules.ChooseLatestGroup([Vm1, vm2]);
        Assert.All(points!, p => Assert.Equal(("app-g-1", "application-consistent"), (p.PointName, p.Consistency)));
    }

    [Fact]
    public void A_disk_sharing_no_point_is_named_with_what_the_others_have_and_its_own_newest()
    {
        var vm2 = Vm2 with { Disks = [Vm2.Disks[0] with { Points = [Crash("vm2-own", 9, 500)] }] };
        var (points, error) = GroupPointRules.ChooseLatestGroup([Vm1, vm2]);
        Assert.Null(points);
        Assert.Equal("no recovery point is common to every disk of vm1, vm2: disk vm2-d1 of vm2 has none of the 4 point(s) that every disk before it (of vm1) has " +
            "(the newest of those: 'vm1-own' at 1970-01-01T00:00:00.350Z; its own newest: 'vm2-own' at 1970-01-01T00:00:00.500Z); " +
            "take a group bookmark across these machines (srctl bookmark --group, or a protection group with multi-VM consistency), " +
            "or fail over each machine to its own point (latest, latest-processed)", error);
    }

    [Fact]
    public void A_disk_without_any_point_or_without_replication_and_a_machine_without_disks_are_named()
    {
        var bare = new MachineDisks("vm3", [new DiskPoints("vm3-d1", [], 5, 50)]);
        Assert.Contains("disk vm3-d1 of vm3 has no recovery point at all", GroupPointRules.ChooseLatestGroup([bare, Vm1]).Error);
        Assert.Contains("disk vm3-d1 of vm3 has none of the", GroupPointRules.ChooseLatestGroup([Vm1, bare]).Error);
        Assert.Equal("machine vm3: disk vm3-d1 has nothing replicated yet",
            GroupPointRules.ChooseLatestGroup([Vm1, bare with { Disks = [bare.Disks[0] with { LatestConsistentSequence = 0 }] }]).Error);
        Assert.Equal("machine vm4 has no disk with a replica on this master target", GroupPointRules.ChooseLatestGroup([Vm1, new MachineDisks("vm4", [])]).Error);
    }

    [Fact]
    public void One_machine_alone_takes_the_newest_point_on_all_its_disks()
    {
        var (p, e) = MachinePointRules.Choose("vm1", Vm1.Disks, new FailoverPointChoice("latest-group"));
        Assert.Null(e);
        Assert.Equal("vm1-own", p!.PointName);
        Assert.Contains("latest-group", FailoverPointChoice.Kinds);
    }
}
