using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>
/// Recovery from a real journal: run commands, stop the actor system, start a new one on the same database,
/// and the state is back. Runs on SQLite and PostgreSQL (subclasses below).
/// </summary>
public abstract class JournalRecoveryTests
{
    // Snapshot every 3 events so recovery goes through snapshot + replay of the tail.
    private static readonly EntitySettings Entities = new(3, TimeSpan.FromMinutes(5));

    protected abstract PersistenceSettings Persistence { get; }

    private readonly string _run = Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task State_is_recovered_after_the_actor_system_restarts()
    {
        var disk = $"disk-{_run}";
        var ps = $"ps-{_run}";
        var mt = $"mt-{_run}";

        await using (var node = await ActorTestNode.StartAsync(Persistence, Entities))
        {
            async Task Accept<TRegion>(object command, int events) =>
                Assert.Equal(new CommandResult.Accepted(events), await node.Ask<TRegion, CommandResult>(command));

            await Accept<ProtectedDisksRegion>(new RegisterDisk(disk, "machine-1", 1L << 30, ps, mt), 1);
            for (var i = 1; i <= 5; i++)
                await Accept<ProtectedDisksRegion>(new RecordReplicationProgress(disk, i * 10, 1_000 + i, 100), 1);
            await Accept<ProtectedDisksRegion>(new RecordRecoveryPoint(disk, "bm-1", 20, 2_000, RecoveryPointKind.CrashConsistent), 1);
            await Accept<ProtectedDisksRegion>(new RecordRecoveryPoint(disk, "bm-2", 50, 3_000, RecoveryPointKind.AppConsistent), 1);
            await Accept<ProtectedDisksRegion>(new CompleteResync(disk, 50), 1);
            await Accept<ProtectedDisksRegion>(new RequireResync(disk, ResyncReason.ChecksumMismatch), 1);
            // A point that arrives after a later one is filed in sequence order.
            await Accept<ProtectedDisksRegion>(new RecordRecoveryPoint(disk, "bm-3", 10, 4_000, RecoveryPointKind.CrashConsistent), 1);
            await Accept<ProtectedDisksRegion>(new ExpireRecoveryPoints(disk, 5), 1);
            var rejected = await node.Ask<ProtectedDisksRegion, CommandResult>(
                new RecordRecoveryPoint(disk, "bm-4", 4, 5_000, RecoveryPointKind.CrashConsistent));
            Assert.Equal(RejectionReason.OutOfOrder, Assert.IsType<CommandResult.Rejected>(rejected).Reason);

            await Accept<ProcessServersRegion>(new RegisterProcessServer(ps, "/var/cache/sr", 1L << 34, 200), 1);
            await Accept<ProcessServersRegion>(new AssignDiskToProcessServer(ps, disk), 1);
            await Accept<ProcessServersRegion>(new ReportCacheUsage(ps, 12345), 1);

            await Accept<MasterTargetsRegion>(new RegisterMasterTarget(mt, TargetOs.Linux, 32), 1);
            await Accept<MasterTargetsRegion>(new AttachReplica(mt, disk, "/dev/sdq"), 1);
            await Accept<MasterTargetsRegion>(new AttachReplica(mt, "other", "/dev/sdr"), 1);
            await Accept<MasterTargetsRegion>(new DetachReplica(mt, "other"), 1);
        }

        await using (var node = await ActorTestNode.StartAsync(Persistence, Entities))
        {
            var view = await node.Ask<ProtectedDisksRegion, DiskView>(new GetDisk(disk, 10_000));
            Assert.True(view.Registered);
            Assert.Equal("machine-1", view.MachineId);
            Assert.Equal(1L << 30, view.SizeBytes);
            Assert.Equal(50, view.AppliedThrough);
            Assert.Equal(1_005, view.LastAppliedAtUnixMs);
            Assert.Equal(500, view.BytesAppliedTotal);
            Assert.Equal(["bm-3", "bm-1", "bm-2"], view.RecoveryPoints.Select(p => p.BookmarkId));
            Assert.Equal(RecoveryPointKind.AppConsistent, view.RecoveryPoints[2].Kind);
            Assert.Equal(ReplicationState.Resyncing, view.State);
            Assert.Equal(ResyncReason.ChecksumMismatch, view.ResyncReason);
            Assert.Equal(7_000, view.RpoMs);

            var psView = await node.Ask<ProcessServersRegion, ProcessServerView>(new GetProcessServer(ps));
            Assert.True(psView.Registered);
            Assert.Equal([disk], psView.AssignedDisks);
            Assert.Equal(12345, psView.CacheUsedBytes);

            var mtView = await node.Ask<MasterTargetsRegion, MasterTargetView>(new GetMasterTarget(mt));
            Assert.Equal(TargetOs.Linux, mtView.TargetOs);
            Assert.Equal(31, mtView.UsableSlots);
            Assert.Equal(30, mtView.FreeSlots);
            Assert.Equal([new ReplicaView(disk, "/dev/sdq")], mtView.Replicas);

            // Recovered state still decides: the duplicate bookmark is idempotent.
            Assert.Equal(new CommandResult.Accepted(0), await node.Ask<ProtectedDisksRegion, CommandResult>(
                new RecordRecoveryPoint(disk, "bm-2", 50, 3_000, RecoveryPointKind.AppConsistent)));
        }
    }
}

public sealed class SqliteJournalRecoveryTests : JournalRecoveryTests, IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-actors-tests", Guid.NewGuid().ToString("N"));

    protected override PersistenceSettings Persistence => PersistenceSettings.Sqlite(_dir);

    [Fact]
    public async Task EventsByTag_returns_the_tagged_events()
    {
        await using var node = await ActorTestNode.StartAsync(Persistence);
        var disk = "tagged-disk";
        Assert.True((await node.Ask<ProtectedDisksRegion, CommandResult>(new RegisterDisk(disk, "m", 10, "ps", "mt"))).IsAccepted);
        Assert.True((await node.Ask<ProtectedDisksRegion, CommandResult>(
            new RecordRecoveryPoint(disk, "bm", 1, 1, RecoveryPointKind.CrashConsistent))).IsAccepted);
        Assert.True((await node.Ask<MasterTargetsRegion, CommandResult>(new RegisterMasterTarget("mt", TargetOs.Windows, 16))).IsAccepted);

        var query = PersistenceQuery.Get(node.System).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
        var materializer = node.System.Materializer();

        async Task<List<EventEnvelope>> ByTag(string tag) =>
            (await query.CurrentEventsByTag(tag, Offset.NoOffset()).RunWith(Sink.Seq<EventEnvelope>(), materializer)).ToList();

        var diskEvents = await ByTag(ControlTags.Disk);
        Assert.Collection(diskEvents,
            e => Assert.IsType<DiskRegistered>(e.Event),
            e => Assert.IsType<RecoveryPointRecorded>(e.Event));
        Assert.All(diskEvents, e => Assert.Equal("disk-" + disk, e.PersistenceId));

        var rp = Assert.Single(await ByTag(ControlTags.RecoveryPoint));
        Assert.Equal(new RecoveryPointRecorded(disk, "bm", 1, 1, RecoveryPointKind.CrashConsistent), rp.Event);

        Assert.IsType<MasterTargetRegistered>(Assert.Single(await ByTag(ControlTags.MasterTarget)).Event);
        Assert.Empty(await ByTag(ControlTags.ProcessServer));
    }

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

public sealed class PostgresJournalRecoveryTests : JournalRecoveryTests, IDisposable
{
    private readonly PostgresDatabase _database = new();

    protected override PersistenceSettings Persistence => PersistenceSettings.Postgres(_database.ConnectionString);

    public void Dispose() => _database.Dispose();
}
