using Akka.Actor;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>Akka.TestKit tests of the regions and entities on the in-memory journal.</summary>
public sealed class RegionActorTests() : Akka.TestKit.Xunit2.TestKit(ActorTestNode.InMemory())
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static EntitySettings Settings(TimeSpan? passivate = null) => new(2, passivate);

    [Fact]
    public void Disk_commands_are_accepted_and_reflected_in_the_view()
    {
        var region = Sys.ActorOf(ProtectedDisksRegion.Props(Settings()));
        region.Tell(new RegisterDisk("d1", "m1", 4096, "ps1", "mt1"));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        region.Tell(new RecordReplicationProgress("d1", 10, 1_000, 512));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        region.Tell(new RecordReplicationProgress("d1", 5, 2_000, 512));
        Assert.Equal(new CommandResult.Accepted(0), ExpectMsg<CommandResult>(Wait));
        region.Tell(new RecordRecoveryPoint("d1", "b1", 10, 1_500, RecoveryPointKind.AppConsistent));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        region.Tell(new CompleteResync("d1", 10));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));

        region.Tell(new GetDisk("d1", 4_000));
        var view = ExpectMsg<DiskView>(Wait);
        Assert.True(view.Registered);
        Assert.Equal(ReplicationState.Protected, view.State);
        Assert.Null(view.ResyncReason);
        Assert.Equal(10, view.AppliedThrough);
        Assert.Equal(1_000, view.LastAppliedAtUnixMs);
        Assert.Equal(2_500, view.RpoMs);
        Assert.Equal("b1", Assert.Single(view.RecoveryPoints).BookmarkId);
        Assert.Equal("ps1", view.ProcessServerId);
    }

    [Fact]
    public void Rejections_carry_reason_and_field_and_persist_nothing()
    {
        var region = Sys.ActorOf(ProtectedDisksRegion.Props(Settings()));
        region.Tell(new RecordReplicationProgress("d2", 1, 1, 1));
        var notRegistered = Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait));
        Assert.Equal(RejectionReason.NotRegistered, notRegistered.Reason);
        Assert.Contains("DiskId", notRegistered.Message);

        region.Tell(new RegisterDisk("d2", "m1", -5, "ps1", "mt1"));
        var invalid = Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait));
        Assert.Equal(RejectionReason.InvalidArgument, invalid.Reason);
        Assert.Contains("SizeBytes", invalid.Message);

        region.Tell(new GetDisk("d2", 0));
        var view = ExpectMsg<DiskView>(Wait);
        Assert.False(view.Registered);
        Assert.Equal(ReplicationState.Unregistered, view.State);

        region.Tell(new RegisterDisk("", "m1", 1, "ps1", "mt1"));
        Assert.Equal(RejectionReason.InvalidArgument, Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait)).Reason);
    }

    [Fact]
    public void A_refusal_of_a_told_command_is_logged_with_the_entity_and_the_reason()
    {
        // The data path tells points and progress without asking; a refusal must not vanish as a dead letter.
        var region = Sys.ActorOf(ProtectedDisksRegion.Props(Settings()));
        EventFilter.Warning(contains: "refused RecordReplicationProgress").ExpectOne(Wait, () =>
            region.Tell(new RecordReplicationProgress("d9", 1, 1, 1), ActorRefs.NoSender));
        EventFilter.Warning(contains: "AppliedThrough").ExpectOne(Wait, () =>
        {
            region.Tell(new RegisterDisk("d9", "m1", 4096, "ps1", "mt1"), ActorRefs.NoSender);
            region.Tell(new RecordReplicationProgress("d9", -1, 1, 1), ActorRefs.NoSender);
        });

        // Asked, the refusal goes to the asker and is not logged.
        EventFilter.Warning().Expect(0, TimeSpan.FromMilliseconds(500), () =>
        {
            region.Tell(new RecordReplicationProgress("d9", -1, 1, 1));
            Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait));
        });
    }

    [Fact]
    public void Process_server_and_master_target_regions_work()
    {
        var ps = Sys.ActorOf(ProcessServersRegion.Props(Settings()));
        ps.Tell(new RegisterProcessServer("ps1", "/cache", 1000, 100));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        ps.Tell(new AssignDiskToProcessServer("ps1", "d1"));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        ps.Tell(new AssignDiskToProcessServer("ps1", "d1"));
        Assert.Equal(new CommandResult.Accepted(0), ExpectMsg<CommandResult>(Wait));
        ps.Tell(new ReportCacheUsage("ps1", 2000));
        Assert.Contains("UsedBytes", Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait)).Message);
        ps.Tell(new GetProcessServer("ps1"));
        var psView = ExpectMsg<ProcessServerView>(Wait);
        Assert.Equal(["d1"], psView.AssignedDisks);

        var mt = Sys.ActorOf(MasterTargetsRegion.Props(Settings()));
        mt.Tell(new RegisterMasterTarget("mt1", TargetOs.Windows, 20));
        Assert.Contains("DataDiskSlots", Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait)).Message);
        mt.Tell(new RegisterMasterTarget("mt1", TargetOs.Windows, 16));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        for (var i = 0; i < 15; i++)
        {
            mt.Tell(new AttachReplica("mt1", $"d{i}", $"/r/{i}"));
            Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        }

        mt.Tell(new AttachReplica("mt1", "d15", "/r/15"));
        Assert.Equal(RejectionReason.OutOfSlots, Assert.IsType<CommandResult.Rejected>(ExpectMsg<CommandResult>(Wait)).Reason);
        mt.Tell(new DetachReplica("mt1", "d0"));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        mt.Tell(new GetMasterTarget("mt1"));
        var mtView = ExpectMsg<MasterTargetView>(Wait);
        Assert.Equal(15, mtView.UsableSlots);
        Assert.Equal(1, mtView.FreeSlots);
        Assert.Equal(14, mtView.Replicas.Count);
    }

    [Fact]
    public void Idle_entities_passivate_and_come_back_with_their_state()
    {
        var region = Sys.ActorOf(ProtectedDisksRegion.Props(Settings(TimeSpan.FromMilliseconds(300))));
        region.Tell(new RegisterDisk("d3", "m1", 4096, "ps1", "mt1"));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        region.Tell(new RequireResync("d3", ResyncReason.StreamGap));
        Assert.Equal(new CommandResult.Accepted(1), ExpectMsg<CommandResult>(Wait));
        region.Tell(GetRegionState.Instance);
        Assert.Equal(["d3"], ExpectMsg<RegionState>(Wait).ActiveEntityIds);

        AwaitAssert(() =>
        {
            region.Tell(GetRegionState.Instance, TestActor);
            Assert.Empty(ExpectMsg<RegionState>(Wait).ActiveEntityIds);
        }, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100));

        region.Tell(new GetDisk("d3", 0));
        var view = ExpectMsg<DiskView>(Wait);
        Assert.Equal(ReplicationState.Resyncing, view.State);
        Assert.Equal(ResyncReason.StreamGap, view.ResyncReason);
    }

    [Fact]
    public void Region_ignores_messages_of_another_kind()
    {
        var region = Sys.ActorOf(ProtectedDisksRegion.Props(Settings()));
        region.Tell(new GetMasterTarget("mt1"));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
