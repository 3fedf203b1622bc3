using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>A machine's point is one state across all its disks, for every way of choosing it.</summary>
public sealed class MachinePointRulesTests
{
    static RecoveryPointView Crash(string name, long seq, long time) => new(name, seq, time, RecoveryPointKind.CrashConsistent);
    static RecoveryPointView App(string name, long seq, long time) => new(name, seq, time, RecoveryPointKind.AppConsistent);

    static readonly DiskPoints D1 = new("d1", [Crash("auto-1", 10, 100), App("app-1", 20, 200), Crash("auto-2", 30, 300), Crash("only-d1", 35, 350)], 40, 400);
    static readonly DiskPoints D2 = new("d2", [Crash("auto-1", 11, 101), App("app-1", 21, 201), Crash("auto-2", 31, 301)], 45, 450);

    [Fact]
    public void Latest_of_a_machine_of_one_disk_is_everything_the_target_holds_outside_a_resync()
    {
        var (p, e) = MachinePointRules.Choose("vm1", [D1], new FailoverPointChoice("latest"));
        Assert.Null(e);
        Assert.Equal(40, p!.Sequences["d1"]);
        Assert.Equal("latest", p.PointName);
        Assert.Equal(400, p.PointTimeUnixMs);
    }

    [Fact]
    public void Latest_of_a_machine_of_several_disks_is_its_newest_common_point_never_a_newest_sequence_per_disk()
    {
        var (p, _) = MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("latest"));
        Assert.Equal("auto-2", p!.PointName);
        Assert.Equal(new Dictionary<string, long> { ["d1"] = 30, ["d2"] = 31 }, p.Sequences);
        Assert.Equal(301, p.PointTimeUnixMs);
        Assert.Contains("common to all of them", p.Note);
    }

    [Fact]
    public void Latest_app_takes_the_newest_point_that_is_application_consistent_on_every_disk()
    {
        var d2 = D2 with { Points = [Crash("auto-1", 11, 101), new RecoveryPointView("app-1", 21, 201, RecoveryPointKind.CrashConsistent, "freeze failed"), Crash("auto-2", 31, 301)] };
        Assert.Equal("app-1", MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("latest-app")).Point!.PointName);
        var (none, error) = MachinePointRules.Choose("vm1", [D1, d2], new FailoverPointChoice("latest-app"));
        Assert.Null(none);
        Assert.Contains("no application-consistent recovery point is recorded on every disk", error);
    }

    [Fact]
    public void A_named_point_must_be_on_every_disk_and_the_error_names_the_disks_without_it()
    {
        Assert.Equal(20, MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("bookmark", "app-1")).Point!.Sequences["d1"]);
        var (_, error) = MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("bookmark", "only-d1"));
        Assert.Contains("'only-d1' is not on disk(s) d2", error);
    }

    [Fact]
    public void A_time_takes_the_newest_common_point_at_or_before_it()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(250);
        Assert.Equal("app-1", MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("time", Time: at)).Point!.PointName);
        var (_, error) = MachinePointRules.Choose("vm1", [D1, D2], new FailoverPointChoice("time", Time: DateTimeOffset.FromUnixTimeMilliseconds(50)));
        Assert.Contains("the oldest is 'auto-1'", error);
    }

    [Fact]
    public void A_machine_without_disks_or_with_nothing_replicated_is_named()
    {
        Assert.Contains("vm9 has no disk", MachinePointRules.Choose("vm9", [], new FailoverPointChoice("latest")).Error);
        Assert.Contains("disk d1 has nothing replicated yet", MachinePointRules.Choose("vm1", [D1 with { LatestConsistentSequence = 0 }], new FailoverPointChoice("latest")).Error);
    }
}
