using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;

namespace SiteRecovery.Protection.Tests;

/// <summary>The test node with the protection actors, as a real host adds them.</summary>
internal static class ProtectionNode
{
    public static Task<ActorTestNode> StartAsync(PersistenceSettings persistence, EntitySettings entities) =>
        ActorTestNode.StartAsync(persistence, entities, b => b.AddProtectionActors(entities));
}

/// <summary>Run the protection flow, stop the actor system, start a new one on the same database: the state is back.</summary>
public abstract class ProtectionRecoveryTests
{
    // Snapshot every 3 events: recovery goes through a snapshot plus replay of the tail.
    private static readonly EntitySettings Entities = new(3, TimeSpan.FromMinutes(5));

    protected abstract PersistenceSettings Persistence { get; }

    [Fact]
    public async Task Groups_and_machines_recover_after_the_actor_system_restarts()
    {
        var settings = ProtectionGroupProperties.Good;
        await using (var node = await ProtectionNode.StartAsync(Persistence, Entities))
        {
            async Task Accept<TKey>(object command, int events) =>
                Assert.Equal(new CommandResult.Accepted(events), await node.Ask<TKey, CommandResult>(command));

            await Accept<ProtectionGroupsRegion>(new CreateProtectionGroup("g1", "vault-1", settings), 1);
            await Accept<ProtectionGroupsRegion>(new AddMachine("g1", "m1"), 1);
            await Accept<ProtectionGroupsRegion>(new AddMachine("g1", "m2"), 1);
            await Accept<ProtectionGroupsRegion>(new ChangeReplicationSettings("g1", settings with { MultiVmConsistency = true }), 1);

            await Accept<MasterTargetsRegion>(new RegisterMasterTarget("mt-1", TargetOs.Windows, 32), 1);
            await Accept<ProcessServersRegion>(new RegisterProcessServer("ps-1", "/cache", 1L << 34, 200), 1);
            await Accept<ProtectedMachinesRegion>(new DiscoverMachine("m1", Valid(4, GuestOs.Windows)), 1);
            var enabled = await node.Ask<ProtectionOrchestrator, EnableMachineProtectionResult>(
                new EnableMachineProtection("m1", 20, ["mt-1"], ["ps-1"]));
            Assert.IsType<EnableMachineProtectionResult.Enabled>(enabled);
            await Accept<ProtectedMachinesRegion>(new CompleteInitialReplication("m1"), 1);
            await Accept<ProtectedMachinesRegion>(new ChangeFailoverProperties("m1", "m1-dr", "Standard_D4s", "dr-net"), 1);
            await Accept<ProtectedMachinesRegion>(new StartFailover("m1"), 1);

            await Accept<ProtectedMachinesRegion>(new DiscoverMachine("m2", Valid(2, GuestOs.Windows) with { Clustered = true }), 1);
        }

        await using (var node = await ProtectionNode.StartAsync(Persistence, Entities))
        {
            var group = await node.Ask<ProtectionGroupsRegion, ProtectionGroupView>(new GetProtectionGroup("g1"));
            Assert.True(group.Created);
            Assert.Equal("vault-1", group.Vault);
            Assert.Equal(["m1", "m2"], group.Machines);
            Assert.Equal(settings with { MultiVmConsistency = true }, group.Settings);

            var m1 = await node.Ask<ProtectedMachinesRegion, ProtectedMachineView>(new GetProtectedMachine("m1"));
            Assert.Equal(ProtectionState.FailoverInProgress, m1.State);
            Assert.Equal(new PlacementDecision("mt-1", "ps-1"), m1.Placement);
            Assert.Equal("m1-dr", m1.Properties!.FailoverName);
            Assert.Equal(4, m1.Properties.Disks.Count);

            var mt = await node.Ask<MasterTargetsRegion, MasterTargetView>(new GetMasterTarget("mt-1"));
            Assert.Equal(27, mt.FreeSlots);

            // The recovered state still decides: illegal transitions stay illegal, the next legal one is accepted.
            var illegal = await node.Ask<ProtectedMachinesRegion, CommandResult>(new StartReprotect("m1"));
            Assert.Equal(RejectionReason.InvalidState, Assert.IsType<CommandResult.Rejected>(illegal).Reason);
            Assert.Equal(new CommandResult.Accepted(1), await node.Ask<ProtectedMachinesRegion, CommandResult>(new CompleteFailover("m1")));

            var m2 = await node.Ask<ProtectedMachinesRegion, ProtectedMachineView>(new GetProtectedMachine("m2"));
            Assert.Equal(ProtectionState.Discovered, m2.State);
            Assert.True(m2.Properties!.Clustered);

            // Events were tagged for read models.
            var query = PersistenceQuery.Get(node.System).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
            var byTag = await query.CurrentEventsByTag(ProtectionTags.ProtectedMachine, Offset.NoOffset())
                .RunWith(Sink.Seq<EventEnvelope>(), node.System.Materializer());
            Assert.IsType<MachineDiscovered>(byTag[0].Event);
            Assert.Contains(byTag, e => e.Event is ProtectionEnablingStarted);
            var groups = await query.CurrentEventsByTag(ProtectionTags.ProtectionGroup, Offset.NoOffset())
                .RunWith(Sink.Seq<EventEnvelope>(), node.System.Materializer());
            Assert.Equal(4, groups.Count);
        }
    }
}

public sealed class SqliteProtectionRecoveryTests : ProtectionRecoveryTests, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-protection-tests", Guid.NewGuid().ToString("N"));

    protected override PersistenceSettings Persistence => PersistenceSettings.Sqlite(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}

public sealed class PostgresProtectionRecoveryTests : ProtectionRecoveryTests, IDisposable
{
    private readonly PostgresDatabase _database = new();

    protected override PersistenceSettings Persistence => PersistenceSettings.Postgres(_database.ConnectionString);

    public void Dispose() => _database.Dispose();
}
