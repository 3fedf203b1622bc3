using System.Collections.Immutable;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using SiteRecovery.Actors.Control.MasterTarget;
using SiteRecovery.Actors.Control.ProcessServer;
using SiteRecovery.Actors.Control.ProtectedDisk;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Actors.Tests;

public sealed class SerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorTestNode.CreateSystem("serializer-tests");

    private ControlJsonSerializer Serializer => new((ExtendedActorSystem)_system);

    public static readonly object[] Samples =
    [
        new DiskRegistered("d1", "m1", 1L << 40, "ps1", "mt1"),
        new ReplicationProgressRecorded("d1", 42, 1_700_000_000_000, 4096),
        new RecoveryPointRecorded("d1", "bm-1", 7, 1_700_000_000_001, RecoveryPointKind.AppConsistent),
        new RecoveryPointRecorded("d1", "gb-1", 8, 1_700_000_000_002, RecoveryPointKind.CrashConsistent, "vm2: freeze Failed: fsfreeze /data exited 1"),
        new RecoveryPointRecorded("d1", "gb-2", 9, 1_700_000_000_003, RecoveryPointKind.CrashConsistent, "vm2: freeze Failed: fsfreeze /data exited 1", AppConsistencyFailure.GroupMemberFailed),
        new ResyncRequired("d1", ResyncReason.ChecksumMismatch),
        new ResyncCompleted("d1", 99),
        new BookmarkNameReserved("d1", "before-upgrade", "r1", 1_700_000_000_000),
        new BookmarkNameReleased("d1", "before-upgrade", "r1"),
        new RecoveryPointsExpired("d1", 4711),
        new ReplicationStopped("d1", SiteRecovery.Contracts.Wire.DiskStopReason.SpoolWriteFailed, 41, "No space left on device", 1_700_000_000_000),
        new ReplicationResumed("d1", 1_700_000_000_001),
        new AgentClockSkewObserved("d1", -86_400_000, 300_000, true, 1_700_000_000_000),
        new WriterRefusedObserved("d1", SiteRecovery.Contracts.Wire.WriterRefusal.DifferentWriter, new string('a', 64), new string('b', 64), "disk d1 is bound to writer aaaaaaaaaaaaaaaa", 1_700_000_000_000),
        new WriterRefusalResolved("d1", true, 1_700_000_000_001),
        new ProcessServerRegistered("ps1", "/var/cache/sr", 10_000_000, 250),
        new DiskAssignedToProcessServer("ps1", "d1"),
        new CacheUsageReported("ps1", 1234),
        new MasterTargetRegistered("mt1", TargetOs.Linux, 32),
        new ReplicaAttached("mt1", "d1", "/dev/sdb"),
        new ReplicaDetached("mt1", "d1"),
        new ProtectionGroupCreated("g1", "vault-1", new ReplicationSettings(true, TimeSpan.FromMinutes(30), TimeSpan.FromDays(1), TimeSpan.FromHours(4))),
        new ReplicationSettingsChanged("g1", new ReplicationSettings(false, TimeSpan.FromMinutes(15), TimeSpan.FromDays(2), TimeSpan.Zero)),
        new MachineAddedToGroup("g1", "m1"),
        new MachineRemovedFromGroup("g1", "m1"),
        new MachineDiscovered("m1", new MachineProperties("vm", GuestOs.Linux, [new MachineDisk("d1", 1L << 30)], BootType.Bios, false, false, "vm-dr", "D2s", "net")),
        new ProtectionEnablingStarted("m1", new PlacementDecision("mt1", "ps1")),
        new ProtectionEnablingAborted("m1", "attach failed"),
        new InitialReplicationStarted("m1"),
        new InitialReplicationCompleted("m1"),
        new FailoverStarted("m1"),
        new FailoverCompleted("m1"),
        new ReprotectStarted("m1"),
        new ReprotectCompleted("m1"),
        new ProtectionDisablingStarted("m1"),
        new ProtectionDisabled("m1"),
        new FailoverPropertiesChanged("m1", "vm-dr2", "D4s", "net2"),
        new FailoverPropertiesChangedV2("m1", "vm-dr2", "D4s", "net2", "10.0.0.5", new LocalComputeSettings(1024, 2, "uefi")),
        new AppConsistencyFailed("m1", null, "app-1", AppConsistencyFailure.HookTimedOut, "script /opt/q.sh freeze: no answer within 10 s", 1_700_000_000_002),
        new AppConsistentPointRecorded("m1", "d1", "app-2", 1_700_000_000_003),
        new ApiCallAudited("node1", "0123456789ab", "portal", "operator", "127.0.0.1", "POST", "/api/bookmarks", 200, null, 1_700_000_000_004),
        new ApiCallAudited("node1", "-", "anonymous", null, "10.0.0.9", "POST", "/api/recover", 401, "no token", 1_700_000_000_005),
    ];

    public static IEnumerable<object[]> EventSamples => Samples.Select(s => new[] { s });

    [Theory]
    [MemberData(nameof(EventSamples))]
    public void Every_event_round_trips_with_its_manifest(object evt)
    {
        var manifest = Serializer.Manifest(evt);
        Assert.Matches(@"\.v[0-9]+$", manifest);
        var back = Serializer.FromBinary(Serializer.ToBinary(evt), manifest);
        Assert.Equal(evt, back);
    }

    [Fact]
    public void Samples_cover_every_registered_event_type()
    {
        var covered = Samples.Select(s => s.GetType()).ToHashSet();
        // Registration-area events (IRegistrationEvent) are covered by SiteRecovery.Registration.Tests, alert events (IAlertEvent) by SiteRecovery.Alerts.Tests,
        // recovery-plan events (IRecoveryPlanEvent, IRecoveryPlanDirectoryEvent) and failover events (IFailoverJobEvent, the failover
        // directory's) by SiteRecovery.Protection.Tests (every accepted command's events through JSON, and a restart on SQLite).
        var eventTypes = ControlManifestRegistry.EventTypes
            .Where(t => !typeof(IRegistrationEvent).IsAssignableFrom(t) && !typeof(IAlertEvent).IsAssignableFrom(t)
                        && !typeof(IRecoveryPlanEvent).IsAssignableFrom(t) && !typeof(IRecoveryPlanDirectoryEvent).IsAssignableFrom(t)
                        && !typeof(IFailoverJobEvent).IsAssignableFrom(t) && t.Namespace != typeof(SiteRecovery.Actors.Failover.FailoverDirectoryState).Namespace).ToList();
        Assert.All(eventTypes, t => Assert.Contains(t, covered));
        Assert.Equal(eventTypes.Count, covered.Count);
    }

    [Fact]
    public void Akka_picks_the_control_serializer_for_events_and_snapshots()
    {
        var serialization = _system.Serialization;
        Assert.IsType<ControlJsonSerializer>(serialization.FindSerializerFor(Samples[0]));
        Assert.IsType<ControlJsonSerializer>(serialization.FindSerializerFor(ProtectedDiskState.Empty("d")));
        var bytes = serialization.Serialize(Samples[2]);
        var back = serialization.Deserialize(bytes, ControlJsonSerializer.SerializerIdentifier, Serializer.Manifest(Samples[2]));
        Assert.Equal(Samples[2], back);
    }

    [Fact]
    public void Snapshots_round_trip()
    {
        var disk = ProtectedDiskState.Empty("d1")
            .Apply(new DiskRegistered("d1", "m1", 10, "ps", "mt"))
            .Apply(new RecoveryPointRecorded("d1", "b", 3, 10, RecoveryPointKind.CrashConsistent))
            .Apply(new RecoveryPointRecorded("d1", "g", 4, 11, RecoveryPointKind.CrashConsistent, "vm1: freeze Missing", AppConsistencyFailure.HookMissing))
            .Apply(new ReplicationProgressRecorded("d1", 5, 11, 12));
        var ps = ProcessServerState.Empty("ps1")
            .Apply(new ProcessServerRegistered("ps1", "/c", 100, 5))
            .Apply(new DiskAssignedToProcessServer("ps1", "d1"));
        var mt = MasterTargetState.Empty("mt1")
            .Apply(new MasterTargetRegistered("mt1", TargetOs.Windows, 16))
            .Apply(new ReplicaAttached("mt1", "d1", "/r/1"));

        var diskBack = (ProtectedDiskState)RoundTrip(disk);
        Assert.Equal(disk with { RecoveryPoints = ImmutableList<RecoveryPointView>.Empty }, diskBack with { RecoveryPoints = ImmutableList<RecoveryPointView>.Empty });
        Assert.Equal(disk.RecoveryPoints, diskBack.RecoveryPoints);

        var psBack = (ProcessServerState)RoundTrip(ps);
        Assert.Equal(ps.AssignedDisks, psBack.AssignedDisks);
        Assert.Equal(ps with { AssignedDisks = ImmutableSortedSet<string>.Empty }, psBack with { AssignedDisks = ImmutableSortedSet<string>.Empty });

        var mtBack = (MasterTargetState)RoundTrip(mt);
        Assert.Equal(mt.Replicas, mtBack.Replicas);
        Assert.Equal(mt.FreeSlots, mtBack.FreeSlots);
        Assert.Equal(5, ControlManifestRegistry.SnapshotTypes.Count(t => !t.Name.StartsWith("Vault") && !t.Name.StartsWith("ConfigurationServer") && !t.Name.StartsWith("RecoveryPlan") && !t.Name.StartsWith("Failover") && !typeof(IAlertSnapshot).IsAssignableFrom(t)));
    }

    [Fact]
    public void Old_journal_bytes_with_the_control_planes_own_resync_reasons_read_back_as_the_one_enum()
    {
        // Bytes as the version with two ResyncReason enums wrote them (the control plane's said CacheLost where the data
        // path's says StreamGap, and listed its members in another order): every name it had, then an event and a snapshot.
        string[] oldNames = ["InitialReplication", "AgentRestartedWithoutTracking", "CacheLost", "ChecksumMismatch", "OperatorRequest", "BufferOverflow", "AgentCrashActivityLog", "Reprotect"];
        ResyncReason[] want = [ResyncReason.InitialReplication, ResyncReason.AgentRestartedWithoutTracking, ResyncReason.StreamGap, ResyncReason.ChecksumMismatch,
            ResyncReason.OperatorRequest, ResyncReason.BufferOverflow, ResyncReason.AgentCrashActivityLog, ResyncReason.Reprotect];
        for (var i = 0; i < oldNames.Length; i++)
        {
            var old = Serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes($$"""{"DiskId":"d1","Reason":"{{oldNames[i]}}"}"""), "disk-resync-required.v1");
            Assert.Equal(new ResyncRequired("d1", want[i]), old);
        }

        var gap = (ResyncRequired)Serializer.FromBinary("""{"DiskId":"d1","Reason":"CacheLost"}"""u8.ToArray(), "disk-resync-required.v1");
        var replayed = ProtectedDiskState.Empty("d1").Apply(new DiskRegistered("d1", "m1", 4096, "ps1", "mt1")).Apply(new ResyncCompleted("d1", 7)).Apply(gap);
        Assert.Equal(ResyncReason.StreamGap, replayed.ResyncReason);
        Assert.Equal(ResyncReason.StreamGap, replayed.LastResyncReason);

        var snapshot = (ProtectedDiskState)Serializer.FromBinary(
            """{"DiskId":"d1","State":"Resyncing","MachineId":"m1","SizeBytes":4096,"ProcessServerId":"ps1","MasterTargetId":"mt1","AppliedThrough":7,"LastAppliedAtUnixMs":null,"BytesAppliedTotal":0,"RecoveryPoints":[],"ResyncReason":"CacheLost","LastResyncReason":"CacheLost","RetainedFromSequence":0,"NameReservations":null,"Stopped":null}"""u8.ToArray(),
            "disk-state.v1");
        Assert.Equal(replayed with { RecoveryPoints = [] }, snapshot with { RecoveryPoints = [] });

        // Written from now on under the one enum's name.
        Assert.Equal("""{"DiskId":"d1","Reason":"StreamGap"}""", System.Text.Encoding.UTF8.GetString(Serializer.ToBinary(gap)));
    }

    [Fact]
    public void Unknown_manifest_throws_SerializationException_naming_it()
    {
        var ex = Assert.Throws<SerializationException>(() => Serializer.FromBinary("{}"u8.ToArray(), "no-such-event.v9"));
        Assert.Contains("no-such-event.v9", ex.Message);
    }

    [Fact]
    public void Unregistered_type_throws_SerializationException()
    {
        Assert.Throws<SerializationException>(() => Serializer.Manifest(new RegisterDisk("d", "m", 1, "p", "t")));
    }

    private object RoundTrip(object o) => Serializer.FromBinary(Serializer.ToBinary(o), Serializer.Manifest(o));

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
