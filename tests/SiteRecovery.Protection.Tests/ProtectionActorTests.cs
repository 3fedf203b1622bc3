using Akka.Actor;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;

namespace SiteRecovery.Protection.Tests;

/// <summary>Akka.TestKit tests of the protection regions and the orchestrator on the in-memory journal.</summary>
public sealed class ProtectionActorTests() : Akka.TestKit.Xunit2.TestKit(ActorTestNode.InMemory())
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private static readonly EntitySettings Settings = new(2, null);

    private void Accept(IActorRef region, object command, int events)
    {
        region.Tell(command);
        Assert.Equal(new CommandResult.Accepted(events), ExpectMsg<CommandResult>(Wait));
    }

    private CommandResult.Rejected Reject(IActorRef region, object command)
    {
        region.Tell(command);
        return Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait));
    }

    private T Query<T>(IActorRef region, object query)
    {
        region.Tell(query);
        return ExpectMsg<T>(Wait);
    }

    [Fact]
    public async Task Machine_entity_recovers_its_state_after_being_killed()
    {
        var region = Sys.ActorOf(ProtectedMachinesRegion.Props(Settings));
        Accept(region, new DiscoverMachine("m1", Valid(3)), 1);
        Accept(region, new EnableProtection("m1", new("mt1", "ps1")), 1);
        Accept(region, new StartInitialReplication("m1"), 1);
        var illegal = Reject(region, new StartFailover("m1"));
        Assert.Equal(RejectionReason.InvalidState, illegal.Reason);
        Assert.Contains("StartFailover is not allowed for machine 'm1' in state InitialReplication", illegal.Message);

        // Kill the entity (restart from the journal: snapshot at 2 + replay of the tail).
        region.Tell(GetRegionState.Instance);
        Assert.Equal(["m1"], ExpectMsg<RegionState>(Wait).ActiveEntityIds);
        var child = await Sys.ActorSelection(region.Path / "m1").ResolveOne(Wait);
        Watch(child);
        child.Tell(PoisonPill.Instance);
        ExpectTerminated(child, Wait);
        AwaitAssert(() =>
        {
            region.Tell(GetRegionState.Instance);
            Assert.Empty(ExpectMsg<RegionState>(Wait).ActiveEntityIds);
        }, Wait);

        var view = Query<ProtectedMachineView>(region, new GetProtectedMachine("m1"));
        Assert.Equal(ProtectionState.InitialReplication, view.State);
        Assert.Equal(new PlacementDecision("mt1", "ps1"), view.Placement);
        Assert.Equal(3, view.Properties!.Disks.Count);
        Accept(region, new CompleteInitialReplication("m1"), 1);
    }

    [Fact]
    public void Enable_rejection_lists_every_validation_failure_and_persists_nothing()
    {
        var region = Sys.ActorOf(ProtectedMachinesRegion.Props(Settings));
        Accept(region, new DiscoverMachine("m2", Valid(32) with { Clustered = true, FailoverName = "x-" }), 1);
        var rejected = Reject(region, new EnableProtection("m2", new("mt1", "ps1")));
        Assert.Equal(RejectionReason.InvalidArgument, rejected.Reason);
        Assert.Contains("[TooManyDisks]", rejected.Message);
        Assert.Contains("[ClusteredServer]", rejected.Message);
        Assert.Contains("[InvalidFailoverName]", rejected.Message);
        Assert.Equal(ProtectionState.Discovered, Query<ProtectedMachineView>(region, new GetProtectedMachine("m2")).State);
    }

    [Fact]
    public void Group_membership_and_settings()
    {
        var region = Sys.ActorOf(ProtectionGroupsRegion.Props(Settings));
        Accept(region, new CreateProtectionGroup("g1", "vault-1", ProtectionGroupProperties.Good), 1);
        Accept(region, new CreateProtectionGroup("g1", "vault-1", ProtectionGroupProperties.Good), 0);
        Accept(region, new AddMachine("g1", "m1"), 1);
        Accept(region, new AddMachine("g1", "m2"), 1);
        Accept(region, new RemoveMachine("g1", "m1"), 1);
        var bad = Reject(region, new ChangeReplicationSettings("g1", ProtectionGroupProperties.Good with { RetentionWindow = TimeSpan.FromDays(16) }));
        Assert.Contains("RetentionWindow must be <= 15 days", bad.Message);
        var view = Query<ProtectionGroupView>(region, new GetProtectionGroup("g1"));
        Assert.Equal(["m2"], view.Machines);
        Assert.Equal(ProtectionGroupProperties.Good, view.Settings);
    }

    private (IActorRef Machines, IActorRef MasterTargets, IActorRef ProcessServers, IActorRef Orchestrator) StartAll()
    {
        var machines = Sys.ActorOf(ProtectedMachinesRegion.Props(Settings));
        var mts = Sys.ActorOf(MasterTargetsRegion.Props(Settings));
        var pss = Sys.ActorOf(ProcessServersRegion.Props(Settings));
        var orchestrator = Sys.ActorOf(ProtectionOrchestrator.Props(machines, mts, pss, Wait));
        return (machines, mts, pss, orchestrator);
    }

    [Fact]
    public void Orchestrator_places_attaches_assigns_and_starts_initial_replication()
    {
        var (machines, mts, pss, orchestrator) = StartAll();
        Accept(mts, new RegisterMasterTarget("mt-1", TargetOs.Linux, 16), 1);
        Accept(mts, new RegisterMasterTarget("mt-2", TargetOs.Linux, 32), 1);
        Accept(mts, new RegisterMasterTarget("mt-win", TargetOs.Windows, 32), 1);
        Accept(pss, new RegisterProcessServer("ps-1", "/cache", 1L << 34, 100), 1);
        Accept(machines, new DiscoverMachine("m1", Valid(20)), 1);

        orchestrator.Tell(new EnableMachineProtection("m1", 60, ["mt-1", "mt-2", "mt-win"], ["ps-1"]));
        var enabled = Assert.IsType<EnableMachineProtectionResult.Enabled>(ExpectMsg<EnableMachineProtectionResult>(Wait));
        Assert.Equal(new PlacementDecision("mt-2", "ps-1"), enabled.Placement);

        Assert.Equal(ProtectionState.InitialReplication, Query<ProtectedMachineView>(machines, new GetProtectedMachine("m1")).State);
        var mt = Query<MasterTargetView>(mts, new GetMasterTarget("mt-2"));
        Assert.Equal(20, mt.Replicas.Count);
        Assert.Equal(11, mt.FreeSlots);
        Assert.Contains(new ReplicaView("disk0", "m1/disk0"), mt.Replicas);
        Assert.Equal(20, Query<ProcessServerView>(pss, new GetProcessServer("ps-1")).AssignedDisks.Count);

        // A second machine of 12 disks fits mt-1 (15 free), but 60 of ps-1's 100 MB/s are already reserved.
        Accept(machines, new DiscoverMachine("m2", Valid(12)), 1);
        orchestrator.Tell(new EnableMachineProtection("m2", 50, ["mt-1", "mt-2"], ["ps-1"]));
        var failed = Assert.IsType<EnableMachineProtectionResult.Failed>(ExpectMsg<EnableMachineProtectionResult>(Wait));
        Assert.Contains("add a process server: no process server has 50 MB/s of churn capacity left (most left: 40 MB/s on ps-1)", failed.Message);
        Assert.Equal(ProtectionState.Discovered, Query<ProtectedMachineView>(machines, new GetProtectedMachine("m2")).State);
    }

    [Fact]
    public void Orchestrator_placement_failure_leaves_the_machine_Discovered_and_installs_nothing()
    {
        var (machines, mts, pss, orchestrator) = StartAll();
        Accept(mts, new RegisterMasterTarget("mt-1", TargetOs.Linux, 16), 1);
        Accept(mts, new RegisterMasterTarget("mt-2", TargetOs.Linux, 16), 1);
        Accept(mts, new AttachReplica("mt-2", "other", "/other"), 1);
        Accept(pss, new RegisterProcessServer("ps-1", "/cache", 1L << 34, 100), 1);
        Accept(machines, new DiscoverMachine("m3", Valid(16)), 1);

        orchestrator.Tell(new EnableMachineProtection("m3", 10, ["mt-1", "mt-2"], ["ps-1"]));
        var failed = Assert.IsType<EnableMachineProtectionResult.Failed>(ExpectMsg<EnableMachineProtectionResult>(Wait));
        Assert.Equal(RejectionReason.OutOfSlots, failed.Reason);
        Assert.Contains("add a master target: no master target has 16 free data-disk slots (most free: 15 on mt-1)", failed.Message);

        Assert.Equal(ProtectionState.Discovered, Query<ProtectedMachineView>(machines, new GetProtectedMachine("m3")).State);
        Assert.Empty(Query<MasterTargetView>(mts, new GetMasterTarget("mt-1")).Replicas);
        Assert.Empty(Query<ProcessServerView>(pss, new GetProcessServer("ps-1")).AssignedDisks);
    }

    [Fact]
    public void Orchestrator_refuses_invalid_and_non_discovered_machines()
    {
        var (machines, mts, pss, orchestrator) = StartAll();
        Accept(mts, new RegisterMasterTarget("mt-1", TargetOs.Linux, 32), 1);
        Accept(pss, new RegisterProcessServer("ps-1", "/cache", 1L << 34, 100), 1);
        Accept(machines, new DiscoverMachine("uefi", Valid() with { BootType = BootType.Uefi, HasBitLockerVolumes = true }), 1);

        orchestrator.Tell(new EnableMachineProtection("uefi", 1, ["mt-1"], ["ps-1"]));
        var invalid = Assert.IsType<EnableMachineProtectionResult.Failed>(ExpectMsg<EnableMachineProtectionResult>(Wait));
        Assert.Equal(RejectionReason.InvalidArgument, invalid.Reason);
        Assert.Contains("[UefiBoot]", invalid.Message);
        Assert.Contains("[BitLockerVolumes]", invalid.Message);
        Assert.Empty(Query<MasterTargetView>(mts, new GetMasterTarget("mt-1")).Replicas);

        orchestrator.Tell(new EnableMachineProtection("ghost", 1, ["mt-1"], ["ps-1"]));
        Assert.Equal(RejectionReason.NotRegistered,
            Assert.IsType<EnableMachineProtectionResult.Failed>(ExpectMsg<EnableMachineProtectionResult>(Wait)).Reason);
    }
}
