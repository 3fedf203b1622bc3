using System.Text;
using System.Text.Json;
using Akka.Actor;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Control.RecoveryPlan;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;
using static SiteRecovery.Protection.Tests.RecoveryPlanRulesTests;

namespace SiteRecovery.Protection.Tests;

/// <summary>Failover properties v2 (static address, local target settings) beside v1, and the failover-name rule.</summary>
public sealed class FailoverPropertiesTests
{
    private const string M = "m1";

    internal static ProtectedMachineState Protected()
    {
        var s = ProtectedMachineState.Empty(M);
        foreach (IProtectedMachineCommand c in new IProtectedMachineCommand[]
                 {
                     new DiscoverMachine(M, Valid()), new EnableProtection(M, new("mt1", "ps1")),
                     new StartInitialReplication(M), new CompleteInitialReplication(M),
                 })
        {
            var d = s.Decide(c);
            Assert.False(d.IsRejected, d.Rejection?.Message);
            s = d.Events.Aggregate(s, (x, e) => x.Apply(e));
        }

        return s;
    }

    private static ChangeFailoverProperties Change(string name = "vm-2", string? address = null, LocalComputeSettings? local = null) =>
        new(M, name, "Standard_D4s", "net-b") { StaticAddress = address, Local = local };

    private static (ProtectedMachineState State, IReadOnlyList<IProtectedMachineEvent> Events) Step(ProtectedMachineState s, IProtectedMachineCommand c)
    {
        var d = s.Decide(c);
        Assert.False(d.IsRejected, d.Rejection?.Message);
        return (d.Events.Aggregate(s, (x, e) => x.Apply(e)), d.Events);
    }

    private static string Reject(IProtectedMachineCommand c)
    {
        var d = Protected().Decide(c);
        Assert.Equal(RejectionReason.InvalidArgument, d.Rejection?.Reason);
        Assert.Empty(d.Events);
        return d.Rejection!.Message;
    }

    [Fact]
    public void Defaults_when_never_set_are_256_MiB_1_cpu_bios_and_no_static_address()
    {
        var p = Protected().Properties!;
        Assert.Equal(new LocalComputeSettings(256, 1, "bios"), p.Local);
        Assert.Null(p.StaticAddress);
        Assert.Equal(LocalComputeSettings.Default, new LocalComputeSettings());
    }

    [Fact]
    public void The_original_command_shape_still_persists_the_v1_event_and_keeps_the_new_values()
    {
        var (s, _) = Step(Protected(), Change(address: "10.0.0.5", local: new(1024, 2, "uefi")));
        var (after, events) = Step(s, new ChangeFailoverProperties(M, "vm-3", "Standard_D8s", "net-c"));
        var v1 = Assert.IsType<FailoverPropertiesChanged>(Assert.Single(events));
        Assert.Equal(new FailoverPropertiesChanged(M, "vm-3", "Standard_D8s", "net-c"), v1);
        Assert.Equal("vm-3", after.Properties!.FailoverName);
        Assert.Equal("10.0.0.5", after.Properties.StaticAddress);
        Assert.Equal(new LocalComputeSettings(1024, 2, "uefi"), after.Properties.Local);
    }

    [Fact]
    public void New_members_persist_the_v2_event_with_every_value()
    {
        var (s, events) = Step(Protected(), Change(address: "192.168.10.20", local: new(2048, 4, "uefi")));
        Assert.Equal(new FailoverPropertiesChangedV2(M, "vm-2", "Standard_D4s", "net-b", "192.168.10.20", new(2048, 4, "uefi")),
            Assert.IsType<FailoverPropertiesChangedV2>(Assert.Single(events)));
        Assert.Equal("192.168.10.20", s.Properties!.StaticAddress);

        // Absent members keep the current values; "" removes the static address.
        var (kept, keptEvents) = Step(s, Change(name: "vm-4", local: new(512, 2, "bios")));
        Assert.Equal("192.168.10.20", Assert.IsType<FailoverPropertiesChangedV2>(Assert.Single(keptEvents)).StaticAddress);
        Assert.Equal(new LocalComputeSettings(512, 2, "bios"), kept.Properties!.Local);
        var (cleared, _) = Step(kept, Change(name: "vm-4", address: ""));
        Assert.Null(cleared.Properties!.StaticAddress);
        Assert.Equal(new LocalComputeSettings(512, 2, "bios"), cleared.Properties.Local);

        // The same values again are a no-op.
        Assert.Empty(cleared.Decide(Change(name: "vm-4", address: "", local: new(512, 2, "bios"))).Events);
        Assert.False(cleared.Decide(Change(name: "vm-4", address: "")).IsRejected);
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("172.16.255.254")]
    [InlineData("2001:db8::10")]
    [InlineData("fe80::1")]
    [InlineData("::ffff:10.1.2.3")]
    public void Static_addresses_accepted(string address) =>
        Assert.False(Protected().Decide(Change(address: address)).IsRejected, address);

    [Theory]
    [InlineData("1", "must be an IPv4 address")]
    [InlineData("10.0.0", "must be an IPv4 address")]
    [InlineData("10.0.0.256", "must be an IPv4 address")]
    [InlineData("0x7f.0.0.1", "must be an IPv4 address")]
    [InlineData("10.0.0.5/24", "must be an IPv4 address")]
    [InlineData("fe80::1%eth0", "must be an IPv4 address")]
    [InlineData("host.example", "must be an IPv4 address")]
    [InlineData(" 10.0.0.5", "must be an IPv4 address")]
    [InlineData("0.0.0.0", "must not be the unspecified address")]
    [InlineData("::", "must not be the unspecified address")]
    [InlineData("127.0.0.1", "must not be a loopback address")]
    [InlineData("::1", "must not be a loopback address")]
    [InlineData("224.0.0.1", "must not be a multicast address")]
    [InlineData("ff02::1", "must not be a multicast address")]
    [InlineData("255.255.255.255", "must not be the broadcast address")]
    public void Static_addresses_rejected_naming_the_field(string address, string rule)
    {
        var message = Reject(Change(address: address));
        Assert.Contains("[InvalidStaticAddress]", message);
        Assert.Contains($"ChangeFailoverProperties.StaticAddress {rule}", message);
    }

    [Theory]
    [InlineData(63, 1, "bios", "[InvalidLocalMemory] ChangeFailoverProperties.Local.MemoryMiB must be 64..65536 (was 63)")]
    [InlineData(65537, 1, "bios", "[InvalidLocalMemory] ChangeFailoverProperties.Local.MemoryMiB must be 64..65536 (was 65537)")]
    [InlineData(256, 0, "bios", "[InvalidLocalCpus] ChangeFailoverProperties.Local.Cpus must be 1..64 (was 0)")]
    [InlineData(256, 65, "bios", "[InvalidLocalCpus] ChangeFailoverProperties.Local.Cpus must be 1..64 (was 65)")]
    [InlineData(256, 1, "efi", "[InvalidLocalFirmware] ChangeFailoverProperties.Local.Firmware must be 'bios' or 'uefi' (was 'efi')")]
    [InlineData(256, 1, "BIOS", "[InvalidLocalFirmware] ChangeFailoverProperties.Local.Firmware must be 'bios' or 'uefi' (was 'BIOS')")]
    public void Local_settings_rejected_naming_the_field(int memory, int cpus, string firmware, string expected) =>
        Assert.Contains(expected, Reject(Change(local: new(memory, cpus, firmware))));

    [Theory]
    [InlineData(64, 1, "bios")]
    [InlineData(65536, 64, "uefi")]
    public void Local_settings_edges_accepted(int memory, int cpus, string firmware) =>
        Assert.False(Protected().Decide(Change(local: new(memory, cpus, firmware))).IsRejected);

    [Fact]
    public void All_broken_rules_are_listed_and_nothing_changes()
    {
        var message = Reject(Change(name: "-bad", address: "1.2.3", local: new(1, 0, "x")));
        foreach (var reason in new[] { "InvalidFailoverName", "InvalidStaticAddress", "InvalidLocalMemory", "InvalidLocalCpus", "InvalidLocalFirmware" })
            Assert.Contains($"[{reason}]", message);
    }

    [Theory]
    [InlineData("-vm", "must start with a letter or digit")]
    [InlineData("vm-", "must end with a letter or digit")]
    [InlineData("vm_1", "must contain only letters, digits and hyphens")]
    [InlineData("vm.1", "must contain only letters, digits and hyphens")]
    [InlineData("vé", "must contain only letters, digits and hyphens")]
    [InlineData("", "must be 1-63 characters (was empty)")]
    public void Failover_name_rule_is_named_on_the_v2_path(string name, string rule)
    {
        var message = Reject(Change(name: name, local: new(512, 1, "bios")));
        Assert.Contains($"[InvalidFailoverName] ChangeFailoverProperties.FailoverName {rule}", message);
    }

    [Fact]
    public void Failover_name_length_edges()
    {
        Assert.False(Protected().Decide(Change(name: new string('a', 63), address: "10.0.0.1")).IsRejected);
        Assert.Contains("ChangeFailoverProperties.FailoverName must be 1-63 characters (was 64)", Reject(Change(name: new string('a', 64), address: "10.0.0.1")));
        Assert.False(Protected().Decide(Change(name: "a")).IsRejected);
    }

    [Fact]
    public void Discovery_with_bad_local_settings_cannot_be_enabled()
    {
        var s = Step(ProtectedMachineState.Empty(M), new DiscoverMachine(M, Valid() with { StaticAddress = "127.0.0.1", Local = new(32, 1, "bios") })).State;
        var d = s.Decide(new EnableProtection(M, new("mt1", "ps1")));
        Assert.Contains("[InvalidStaticAddress] StaticAddress must not be a loopback address", d.Rejection!.Message);
        Assert.Contains("[InvalidLocalMemory] Local.MemoryMiB must be 64..65536 (was 32)", d.Rejection.Message);
    }

    private static readonly Gen<IProtectedMachineCommand> ChangeCommand =
        from name in Gen.Elements("vm-2", "vm-3", "-x", "")
        from address in Gen.Elements<string?>(null, null, "", "10.0.0.9", "2001:db8::9", "127.0.0.1", "1.2")
        from local in Gen.Elements<LocalComputeSettings?>(null, null, new(256, 1, "bios"), new(4096, 8, "uefi"), new(1, 1, "bios"), new(512, 99, "uefi"))
        from size in Gen.Elements("Standard_D4s", "")
        select (IProtectedMachineCommand)new ChangeFailoverProperties(M, name, size, "net") { StaticAddress = address, Local = local };

    [Property(MaxTest = 300)]
    public Property Any_mix_of_v1_and_v2_changes_keeps_the_properties_valid_and_replays_to_the_same_state() =>
        Prop.ForAll(Gen.ArrayOf(ChangeCommand).ToArbitrary(), commands =>
        {
            var start = Protected();
            Checker.Run<ProtectedMachineState, IProtectedMachineCommand, IProtectedMachineEvent>(start, commands, (before, after, command) =>
            {
                Assert.Empty(MachineValidation.Validate(after.Properties));
                var c = (ChangeFailoverProperties)command;
                Assert.Equal(c.FailoverName, after.Properties!.FailoverName);
                Assert.Equal(c.Local ?? before.Properties!.Local, after.Properties.Local);
                Assert.Equal(c.StaticAddress switch { null => before.Properties!.StaticAddress, "" => null, var a => a }, after.Properties.StaticAddress);
            });
        });

    [Fact]
    public void An_HTTP_body_binds_the_new_members_and_the_old_body_still_binds()
    {
        var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        var old = JsonSerializer.Deserialize<ChangeFailoverProperties>("""{"machineId":"m1","failoverName":"a","failoverVmSize":"s","failoverNetwork":"n"}""", web)!;
        Assert.Null(old.StaticAddress);
        Assert.Null(old.Local);
        var v2 = JsonSerializer.Deserialize<ChangeFailoverProperties>(
            """{"machineId":"m1","failoverName":"a","failoverVmSize":"s","failoverNetwork":"n","staticAddress":"10.0.0.7","local":{"cpus":2}}""", web)!;
        Assert.Equal("10.0.0.7", v2.StaticAddress);
        Assert.Equal(new LocalComputeSettings(256, 2, "bios"), v2.Local);
    }
}

/// <summary>Journal compatibility and serializer round trips of the new events and snapshots.</summary>
public sealed class RecoveryPlanSerializationTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("plan-serialization");

    private ControlJsonSerializer Serializer => new((ExtendedActorSystem)_system);

    private object RoundTrip(object o) => Serializer.FromBinary(Serializer.ToBinary(o), Serializer.Manifest(o));

    private static string Json(object o) => JsonSerializer.Serialize(o, o.GetType(), ControlJsonSerializer.Options);

    [Fact]
    public void Plan_events_round_trip_with_their_manifests()
    {
        object[] samples =
        [
            new RecoveryPlanCreated("p1", "vault-a", "tier 1", ThreeGroups(), 1000),
            new RecoveryPlanUpdated("p1", null, [Group("a")], 2000),
            new RecoveryPlanDeleted("p1", 3000),
            new RecoveryPlanListed("p1", "vault-a"),
            new RecoveryPlanDrillScheduleSet("p1", TimeSpan.FromDays(7), TimeSpan.FromMinutes(30), 4000),
            new RecoveryPlanUnlisted("p1"),
        ];
        string[] manifests =
        [
            "recovery-plan-created.v1", "recovery-plan-updated.v1", "recovery-plan-deleted.v1",
            "recovery-plan-directory-listed.v1", "recovery-plan-drill-schedule-set.v1", "recovery-plan-directory-unlisted.v1",
        ];
        for (var i = 0; i < samples.Length; i++)
        {
            Assert.Equal(manifests[i], Serializer.Manifest(samples[i]));
            var back = RoundTrip(samples[i]);
            Assert.IsType(samples[i].GetType(), back);
            Assert.Equal(Json(samples[i]), Json(back));
        }

        var created = (RecoveryPlanCreated)RoundTrip(samples[0]);
        Assert.Equal(ThreeGroups(), created.Groups);
        Assert.Equal(ControlManifestRegistry.EventTypes.Where(t => typeof(IRecoveryPlanEvent).IsAssignableFrom(t) || typeof(IRecoveryPlanDirectoryEvent).IsAssignableFrom(t)).Count(),
            samples.Length);
    }

    [Fact]
    public void Plan_and_directory_states_round_trip()
    {
        var plan = new[]
        {
            (IRecoveryPlanEvent)new RecoveryPlanCreated("p1", "vault-a", "d", ThreeGroups(), 1), new RecoveryPlanUpdated("p1", "e", [Group("x"), Group("y")], 2),
            new RecoveryPlanDrillScheduleSet("p1", TimeSpan.FromDays(7), TimeSpan.FromMinutes(30), 3),
        }.Aggregate(RecoveryPlanState.Empty("p1"), (s, e) => s.Apply(e));
        Assert.Equal("recovery-plan-state.v1", Serializer.Manifest(plan));
        var back = (RecoveryPlanState)RoundTrip(plan);
        Assert.Equal(plan with { Groups = [] }, back with { Groups = [] });
        Assert.Equal(plan.Groups, back.Groups);
        Assert.Equal((TimeSpan.FromDays(7), TimeSpan.FromMinutes(30)), (back.DrillEvery!.Value, back.DrillTtl!.Value));

        var directory = RecoveryPlanDirectoryState.Empty.Apply(new RecoveryPlanListed("p1", "v")).Apply(new RecoveryPlanListed("p2", "w"));
        Assert.Equal("recovery-plan-directory-state.v1", Serializer.Manifest(directory));
        Assert.Equal(directory.Plans, ((RecoveryPlanDirectoryState)RoundTrip(directory)).Plans);
    }

    [Fact]
    public void The_v2_failover_event_round_trips_and_the_v1_manifest_is_unchanged()
    {
        var v2 = new FailoverPropertiesChangedV2("m1", "vm-2", "D4s", "net", "2001:db8::1", new(1024, 2, "uefi"));
        Assert.Equal("protected-machine-failover-properties-changed.v2", Serializer.Manifest(v2));
        Assert.Equal(v2, RoundTrip(v2));
        var v1 = new FailoverPropertiesChanged("m1", "vm-2", "D4s", "net");
        Assert.Equal("protected-machine-failover-properties-changed.v1", Serializer.Manifest(v1));
        Assert.Equal(v1, RoundTrip(v1));
    }

    [Fact]
    public void Old_journal_bytes_still_apply_v1_and_read_the_new_values_as_defaults()
    {
        // Bytes as the previous version wrote them (no StaticAddress, no Local).
        var discovered = (IProtectedMachineEvent)Serializer.FromBinary(Encoding.UTF8.GetBytes(
            """{"MachineId":"m1","Properties":{"Name":"vm","Os":"Linux","Disks":[{"DiskId":"d1","SizeBytes":1073741824}],"BootType":"Bios","Clustered":false,"HasBitLockerVolumes":false,"FailoverName":"vm-dr","FailoverVmSize":"D2s","FailoverNetwork":"net"}}"""),
            "protected-machine-discovered.v1");
        var changed = (IProtectedMachineEvent)Serializer.FromBinary(Encoding.UTF8.GetBytes(
            """{"MachineId":"m1","FailoverName":"vm-dr2","FailoverVmSize":"D4s","FailoverNetwork":"net2"}"""),
            "protected-machine-failover-properties-changed.v1");
        var s = ProtectedMachineState.Empty("m1").Apply(discovered).Apply(changed);
        Assert.Equal("vm-dr2", s.Properties!.FailoverName);
        Assert.Equal("net2", s.Properties.FailoverNetwork);
        Assert.Equal(LocalComputeSettings.Default, s.Properties.Local);
        Assert.Null(s.Properties.StaticAddress);

        // An old snapshot too.
        var snapshot = (ProtectedMachineState)Serializer.FromBinary(Encoding.UTF8.GetBytes(
            """{"MachineId":"m1","State":"Protected","Properties":{"Name":"vm","Os":"Linux","Disks":[],"BootType":"Bios","Clustered":false,"HasBitLockerVolumes":false,"FailoverName":"a","FailoverVmSize":"b","FailoverNetwork":"c"},"Placement":{"MasterTargetId":"mt","ProcessServerId":"ps"},"LastAbortReason":null}"""),
            "protected-machine-state.v1");
        Assert.Equal(LocalComputeSettings.Default, snapshot.Properties!.Local);

        // A v2 event after the v1 ones, then a snapshot of the result: the values survive.
        var v2 = s.Apply(new FailoverPropertiesChangedV2("m1", "vm-dr3", "D8s", "net3", "10.1.1.1", new(4096, 4, "uefi")));
        var back = (ProtectedMachineState)RoundTrip(v2);
        Assert.Equal(v2, back);
        Assert.Equal(new LocalComputeSettings(4096, 4, "uefi"), back.Properties!.Local);
        Assert.Equal("10.1.1.1", back.Properties.StaticAddress);
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
