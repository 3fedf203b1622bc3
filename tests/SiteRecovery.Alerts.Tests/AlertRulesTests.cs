using SiteRecovery.Actors.Alerts;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>Edges of the pure alert rules, on facts built through <see cref="AlertFacts.Apply"/> from real event types.</summary>
public sealed class AlertRulesTests
{
    private const long T0 = 1_700_000_000_000;
    private static readonly long Minute = 60_000;
    private static readonly AlertSettings Settings = AlertSettings.Default;
    private static readonly IReadOnlySet<AlertKey> None = new HashSet<AlertKey>();

    private static ReplicationSettings Group(TimeSpan rpo) => new(false, rpo, TimeSpan.FromDays(1), TimeSpan.Zero);

    private static AlertFacts Facts(params object[] events) => events.Aggregate(AlertFacts.Empty, (f, e) => f.Apply(e, T0));

    private static Observation Find(IReadOnlyList<Observation> observations, AlertKind kind, string target) =>
        Assert.Single(observations, o => o.Kind == kind && o.Target == target);

    private static bool Holds(AlertFacts facts, long now, AlertKind kind, string target, IReadOnlySet<AlertKey>? active = null) =>
        Find(AlertRules.Evaluate(facts, active ?? None, now, Settings), kind, target).Holds;

    [Fact]
    public void Rpo_exactly_at_the_threshold_is_fine_and_one_ms_over_alerts()
    {
        var facts = Facts(new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new RecoveryPointRecorded("d1", "b", 1, T0 + 5 * Minute, RecoveryPointKind.CrashConsistent));
        var at = T0 + 5 * Minute + 15 * Minute;
        Assert.False(Holds(facts, at, AlertKind.DiskRpoExceeded, "d1"));
        Assert.False(Holds(facts, at, AlertKind.MachineRpoExceeded, "m1"));
        Assert.True(Holds(facts, at + 1, AlertKind.DiskRpoExceeded, "d1"));
        Assert.True(Holds(facts, at + 1, AlertKind.MachineRpoExceeded, "m1"));
        Assert.Equal("RPO 900.001 s over the 900 s threshold of the default",
            Find(AlertRules.Evaluate(facts, None, at + 1, Settings), AlertKind.DiskRpoExceeded, "d1").Detail);
    }

    [Fact]
    public void Without_recovery_points_rpo_counts_from_registration_and_the_newest_point_wins()
    {
        var facts = Facts(new DiskRegistered("d1", "m1", 10, "ps", "mt"));
        Assert.False(Holds(facts, T0 + 15 * Minute, AlertKind.DiskRpoExceeded, "d1"));
        Assert.True(Holds(facts, T0 + 15 * Minute + 1, AlertKind.DiskRpoExceeded, "d1"));
        Assert.False(Holds(facts, T0 - Minute, AlertKind.DiskRpoExceeded, "d1")); // clock behind: RPO 0

        facts = facts.Apply(new RecoveryPointRecorded("d1", "b2", 2, T0 + 10 * Minute, RecoveryPointKind.CrashConsistent), T0)
                     .Apply(new RecoveryPointRecorded("d1", "b1", 1, T0 + 1 * Minute, RecoveryPointKind.CrashConsistent), T0);
        Assert.False(Holds(facts, T0 + 25 * Minute, AlertKind.DiskRpoExceeded, "d1"));
        Assert.True(Holds(facts, T0 + 25 * Minute + 1, AlertKind.DiskRpoExceeded, "d1"));
    }

    [Fact]
    public void Machine_alert_is_active_while_any_of_its_disks_is_over()
    {
        var facts = Facts(
            new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new DiskRegistered("d2", "m1", 10, "ps", "mt"),
            new DiskRegistered("d3", "m2", 10, "ps", "mt"),
            new RecoveryPointRecorded("d1", "a", 1, T0 + 10 * Minute, RecoveryPointKind.CrashConsistent),
            new RecoveryPointRecorded("d2", "a", 1, T0 + 20 * Minute, RecoveryPointKind.CrashConsistent),
            new RecoveryPointRecorded("d3", "a", 1, T0 + 20 * Minute, RecoveryPointKind.CrashConsistent));

        var now = T0 + 30 * Minute;
        var obs = AlertRules.Evaluate(facts, None, now, Settings);
        Assert.True(Find(obs, AlertKind.DiskRpoExceeded, "d1").Holds);
        Assert.False(Find(obs, AlertKind.DiskRpoExceeded, "d2").Holds);
        var m1 = Find(obs, AlertKind.MachineRpoExceeded, "m1");
        Assert.True(m1.Holds);
        Assert.Contains("1 of 2 disks", m1.Detail);
        Assert.Contains("d1", m1.Detail);
        Assert.False(Find(obs, AlertKind.MachineRpoExceeded, "m2").Holds);

        facts = facts.Apply(new RecoveryPointRecorded("d1", "b", 2, T0 + 29 * Minute, RecoveryPointKind.CrashConsistent), T0);
        Assert.False(Holds(facts, now, AlertKind.MachineRpoExceeded, "m1"));
        Assert.True(Holds(facts, T0 + 36 * Minute, AlertKind.MachineRpoExceeded, "m1")); // d2 goes over at 35 min
        Assert.False(Holds(facts, T0 + 36 * Minute, AlertKind.DiskRpoExceeded, "d1"));
    }

    [Fact]
    public void A_machine_in_a_group_uses_the_group_threshold_otherwise_the_default()
    {
        var facts = Facts(
            new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new DiskRegistered("d2", "m2", 10, "ps", "mt"),
            new ProtectionGroupCreated("g1", "vault", Group(TimeSpan.FromMinutes(30))),
            new MachineAddedToGroup("g1", "m1"));
        var now = T0 + 20 * Minute;
        var obs = AlertRules.Evaluate(facts, None, now, Settings);
        var d1 = Find(obs, AlertKind.DiskRpoExceeded, "d1");
        Assert.False(d1.Holds);
        Assert.Contains("group g1", d1.Detail);
        Assert.True(Find(obs, AlertKind.DiskRpoExceeded, "d2").Holds);

        var tighter = facts.Apply(new ReplicationSettingsChanged("g1", Group(TimeSpan.FromMinutes(10))), T0);
        Assert.True(Holds(tighter, now, AlertKind.DiskRpoExceeded, "d1"));
        Assert.Equal("RPO 1200 s over the 600 s threshold of group g1",
            Find(AlertRules.Evaluate(tighter, None, now, Settings), AlertKind.DiskRpoExceeded, "d1").Detail);

        var removed = facts.Apply(new MachineRemovedFromGroup("g1", "m1"), T0);
        Assert.True(Holds(removed, now, AlertKind.DiskRpoExceeded, "d1"));

        var custom = Settings with { DefaultRpoThreshold = TimeSpan.FromHours(1) };
        Assert.False(Find(AlertRules.Evaluate(removed, None, now, custom), AlertKind.DiskRpoExceeded, "d1").Holds);
    }

    [Fact]
    public void Cache_alert_has_hysteresis_between_high_and_low_water()
    {
        var key = new AlertKey(AlertKind.CacheHighWater, "ps1");
        var active = new HashSet<AlertKey> { key };
        AlertFacts At(long used) => Facts(new ProcessServerRegistered("ps1", "/c", 1000, 10), new CacheUsageReported("ps1", used));

        Assert.False(Holds(At(799), T0, AlertKind.CacheHighWater, "ps1"));
        Assert.True(Holds(At(800), T0, AlertKind.CacheHighWater, "ps1"));
        Assert.True(Holds(At(750), T0, AlertKind.CacheHighWater, "ps1", active));   // stays active at 75 %
        Assert.False(Holds(At(750), T0, AlertKind.CacheHighWater, "ps1"));          // but does not raise at 75 %
        Assert.True(Holds(At(700), T0, AlertKind.CacheHighWater, "ps1", active));   // 70 % is not under 70 %
        Assert.False(Holds(At(690), T0, AlertKind.CacheHighWater, "ps1", active));  // clears at 69 %
        Assert.False(Holds(Facts(new ProcessServerRegistered("ps1", "/c", 1000, 10)), T0, AlertKind.CacheHighWater, "ps1"));
        Assert.Contains("80 %", Find(AlertRules.Evaluate(At(800), None, T0, Settings), AlertKind.CacheHighWater, "ps1").Detail);
    }

    [Fact]
    public void Master_target_is_out_of_slots_when_every_usable_slot_is_attached()
    {
        var facts = Facts(new MasterTargetRegistered("mt1", TargetOs.Linux, 16));
        for (var i = 0; i < 14; i++) facts = facts.Apply(new ReplicaAttached("mt1", $"d{i}", $"/r/{i}"), T0);
        Assert.False(Holds(facts, T0, AlertKind.MasterTargetOutOfSlots, "mt1"));
        facts = facts.Apply(new ReplicaAttached("mt1", "d14", "/r/14"), T0);
        Assert.True(Holds(facts, T0, AlertKind.MasterTargetOutOfSlots, "mt1"));
        Assert.Contains("15 of 15", Find(AlertRules.Evaluate(facts, None, T0, Settings), AlertKind.MasterTargetOutOfSlots, "mt1").Detail);
        facts = facts.Apply(new ReplicaDetached("mt1", "d3"), T0);
        Assert.False(Holds(facts, T0, AlertKind.MasterTargetOutOfSlots, "mt1"));

        var big = Facts(new MasterTargetRegistered("mt2", TargetOs.Windows, 32));
        for (var i = 0; i < 30; i++) big = big.Apply(new ReplicaAttached("mt2", $"d{i}", $"/r/{i}"), T0);
        Assert.False(Holds(big, T0, AlertKind.MasterTargetOutOfSlots, "mt2"));
        Assert.True(Holds(big.Apply(new ReplicaAttached("mt2", "x", "/r/x"), T0), T0, AlertKind.MasterTargetOutOfSlots, "mt2"));
    }

    [Fact]
    public void Facts_ignore_unrelated_events_and_every_known_target_is_observed()
    {
        var facts = Facts(
            new DiskRegistered("d1", "m1", 10, "ps", "mt"),
            new ReplicationProgressRecorded("d1", 1, 2, 3),
            new ProcessServerRegistered("ps1", "/c", 1000, 10),
            new MasterTargetRegistered("mt1", TargetOs.Linux, 16),
            new MachineDiscovered("m9", new MachineProperties("vm", GuestOs.Linux, [new MachineDisk("d9", 1)], BootType.Bios, false, false, "f", "s", "n")),
            "not an event");
        var keys = AlertRules.Evaluate(facts, None, T0, Settings).Select(o => o.Key).ToHashSet();
        Assert.Equal(new HashSet<AlertKey>
        {
            new(AlertKind.DiskRpoExceeded, "d1"), new(AlertKind.MachineRpoExceeded, "m1"), new(AlertKind.DiskReplicationStopped, "d1"),
            new(AlertKind.CacheHighWater, "ps1"), new(AlertKind.MasterTargetOutOfSlots, "mt1"),
        }, keys);
        Assert.Equal("m9", facts.DiscoveredDiskMachine["d9"]);
    }

    [Fact]
    public void Settings_are_validated()
    {
        Assert.Throws<ArgumentException>(() => (Settings with { CacheLowWaterPercent = 90 }).Validate());
        Assert.Throws<ArgumentException>(() => (Settings with { DefaultRpoThreshold = TimeSpan.Zero }).Validate());
        Assert.Throws<ArgumentException>(() => (Settings with { EvaluationInterval = TimeSpan.Zero }).Validate());
        Assert.Same(Settings, Settings.Validate());
    }
}
