using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Hosting;
using PersistenceSettings = SiteRecovery.Actors.Hosting.PersistenceSettings;
using SiteRecovery.Actors.Serialization;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>
/// What the node needs of its event journal, checked the same way on every backend it offers: the embedded SQLite
/// default and PostgreSQL for a cluster (the subclasses below; no TCK package is served here, so the cases are written
/// out). Order and contiguous sequence numbers per persistence id, recovery after the actor system restarts, deletion
/// that keeps the highest sequence number, large events, many writers at once, and the read journal's queries by
/// persistence id and by tag (resumable from an offset without gaps or repeats, and live).
/// </summary>
public abstract class PersistenceConformanceTests
{
    protected abstract PersistenceSettings Persistence { get; }

    readonly string _run = Guid.NewGuid().ToString("N")[..8];
    string Id(string name) => $"conformance-{name}-{_run}";

    static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>A persistent actor that journals what it is told and answers with what it recovered.</summary>
    sealed class Probe : ReceivePersistentActor
    {
        public sealed record Write(IReadOnlyList<long> Values);
        public sealed record Written(long LastSequenceNr);
        public sealed record DeleteTo(long SequenceNr);
        public sealed record Deleted(long SequenceNr, string? Error);
        public sealed record Get;
        public sealed record Recovered(IReadOnlyList<long> Values, long LastSequenceNr);

        readonly List<long> _values = [];
        IActorRef? _deleteAsker;

        public override string PersistenceId { get; }

        public Probe(string persistenceId)
        {
            PersistenceId = persistenceId;
            Recover<ReplicationProgressRecorded>(e => _values.Add(e.AppliedThrough));
            Command<Write>(w =>
            {
                var sender = Sender;
                var events = w.Values.Select(v => new ReplicationProgressRecorded(PersistenceId, v, v, 1)).ToList();
                var left = events.Count;
                PersistAll(events, e =>
                {
                    _values.Add(e.AppliedThrough);
                    if (--left == 0) sender.Tell(new Written(LastSequenceNr));
                });
            });
            Command<DeleteTo>(d =>
            {
                _deleteAsker = Sender;
                DeleteMessages(d.SequenceNr);
            });
            Command<DeleteMessagesSuccess>(s => _deleteAsker?.Tell(new Deleted(s.ToSequenceNr, null)));
            Command<DeleteMessagesFailure>(f => _deleteAsker?.Tell(new Deleted(f.ToSequenceNr, f.Cause.Message)));
            Command<Get>(_ => Sender.Tell(new Recovered(_values.ToList(), LastSequenceNr)));
        }
    }

    static IActorRef ProbeOf(ActorSystem system, string persistenceId) => system.ActorOf(Props.Create(() => new Probe(persistenceId)));

    static async Task<long> WriteAsync(IActorRef probe, IEnumerable<long> values) =>
        (await probe.Ask<Probe.Written>(new Probe.Write(values.ToList()), Wait)).LastSequenceNr;

    static Task<Probe.Recovered> RecoveredAsync(IActorRef probe) => probe.Ask<Probe.Recovered>(new Probe.Get(), Wait);

    static SqlReadJournal Query(ActorSystem system) => PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);

    [Fact]
    public async Task Events_recover_in_order_with_contiguous_sequence_numbers_after_the_actor_system_restarts()
    {
        var id = Id("order");
        await using (var node = await ActorTestNode.StartAsync(Persistence))
        {
            var probe = ProbeOf(node.System, id);
            long last = 0;
            for (var batch = 0; batch < 10; batch++)
                last = await WriteAsync(probe, Enumerable.Range(batch * 20, 20).Select(v => (long)v));
            Assert.Equal(200, last);
        }
        await using (var node = await ActorTestNode.StartAsync(Persistence))
        {
            var probe = ProbeOf(node.System, id);
            var recovered = await RecoveredAsync(probe);
            Assert.Equal(Enumerable.Range(0, 200).Select(v => (long)v), recovered.Values);
            Assert.Equal(200, recovered.LastSequenceNr);
            // Numbering continues where it stopped.
            Assert.Equal(201, await WriteAsync(probe, [200]));
            var envelopes = await Query(node.System).CurrentEventsByPersistenceId(id, 0, long.MaxValue)
                .RunWith(Sink.Seq<EventEnvelope>(), node.System.Materializer());
            Assert.Equal(Enumerable.Range(1, 201).Select(v => (long)v), envelopes.Select(e => e.SequenceNr));
            var range = await Query(node.System).CurrentEventsByPersistenceId(id, 50, 59)
                .RunWith(Sink.Seq<EventEnvelope>(), node.System.Materializer());
            Assert.Equal(Enumerable.Range(50, 10).Select(v => (long)v), range.Select(e => e.SequenceNr));
            Assert.Equal(49L, ((ReplicationProgressRecorded)range[0].Event).AppliedThrough);
        }
    }

    [Fact]
    public async Task Persistence_ids_written_at_once_keep_their_own_order_and_numbering()
    {
        await using var node = await ActorTestNode.StartAsync(Persistence);
        var ids = Enumerable.Range(0, 8).Select(i => Id($"writer{i}")).ToList();
        var probes = ids.Select(id => ProbeOf(node.System, id)).ToList();
        await Task.WhenAll(probes.Select(async (probe, i) =>
        {
            for (var n = 0; n < 25; n++) await WriteAsync(probe, [i * 1000 + n * 2, i * 1000 + n * 2 + 1]);
        }));
        await using var again = await ActorTestNode.StartAsync(Persistence);
        for (var i = 0; i < ids.Count; i++)
        {
            var recovered = await RecoveredAsync(ProbeOf(again.System, ids[i]));
            Assert.Equal(Enumerable.Range(0, 50).Select(n => (long)(i * 1000 + n)), recovered.Values);
            Assert.Equal(50, recovered.LastSequenceNr);
        }
    }

    [Fact]
    public async Task Deleted_events_do_not_recover_and_numbering_never_goes_back()
    {
        var id = Id("delete");
        await using (var node = await ActorTestNode.StartAsync(Persistence))
        {
            var probe = ProbeOf(node.System, id);
            await WriteAsync(probe, Enumerable.Range(1, 10).Select(v => (long)v));
            var partly = await probe.Ask<Probe.Deleted>(new Probe.DeleteTo(4), Wait);
            Assert.Null(partly.Error);
            var all = await probe.Ask<Probe.Deleted>(new Probe.DeleteTo(10), Wait);
            Assert.Null(all.Error);
        }
        await using (var node = await ActorTestNode.StartAsync(Persistence))
        {
            var probe = ProbeOf(node.System, id);
            var recovered = await RecoveredAsync(probe);
            Assert.Empty(recovered.Values);
            // Every event deleted, the highest sequence number is still known: the next event is #11, not #1.
            Assert.Equal(10, recovered.LastSequenceNr);
            Assert.Equal(11, await WriteAsync(probe, [11]));
            Assert.Equal([11L], (await RecoveredAsync(ProbeOf(node.System, id))).Values);
        }
    }

    [Fact]
    public async Task A_large_event_round_trips_intact()
    {
        var id = Id("large");
        var machine = string.Concat(Enumerable.Range(0, 256 * 1024).Select(i => (char)('a' + i % 26)));
        await using var node = await ActorTestNode.StartAsync(Persistence);
        var large = new DiskRegistered(id, machine, 1L << 40, "ps", "mt");
        var writer = node.System.ActorOf(Props.Create(() => new OneShot(id)));
        Assert.Equal(1L, await writer.Ask<long>(large, Wait));
        var read = await Query(node.System).CurrentEventsByPersistenceId(id, 0, long.MaxValue).RunWith(Sink.Seq<EventEnvelope>(), node.System.Materializer());
        Assert.Equal(large, Assert.Single(read).Event);
    }

    /// <summary>Journals the one event it is sent and answers with its sequence number.</summary>
    sealed class OneShot : ReceivePersistentActor
    {
        public override string PersistenceId { get; }
        public OneShot(string id)
        {
            PersistenceId = id;
            Recover<object>(_ => { });
            Command<object>(e =>
            {
                var sender = Sender;
                Persist(e, _ => sender.Tell(LastSequenceNr));
            });
        }
    }

    [Fact]
    public async Task A_tag_query_resumes_from_an_offset_without_gaps_or_repeats_and_follows_live_writes()
    {
        await using var node = await ActorTestNode.StartAsync(Persistence);
        var materializer = node.System.Materializer();
        var query = Query(node.System);
        var a = ProbeOf(node.System, Id("tag-a"));
        var b = ProbeOf(node.System, Id("tag-b"));
        for (var n = 0; n < 10; n++)
        {
            await WriteAsync(a, [n]);
            await WriteAsync(b, [100 + n]);
        }
        IReadOnlyList<EventEnvelope> Mine(IEnumerable<EventEnvelope> all) => all.Where(e => e.PersistenceId.EndsWith(_run, StringComparison.Ordinal)).ToList();
        var everything = Mine(await query.CurrentEventsByTag(ControlTags.Disk, Offset.NoOffset()).RunWith(Sink.Seq<EventEnvelope>(), materializer));
        Assert.Equal(20, everything.Count);
        // The two writers' events in the order they were written (each write completed before the next began).
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(n => new long[] { n, 100 + n }), everything.Select(e => ((ReplicationProgressRecorded)e.Event).AppliedThrough));

        // Resumed after the 7th: the 13 after it, exactly.
        var resumed = Mine(await query.CurrentEventsByTag(ControlTags.Disk, everything[6].Offset).RunWith(Sink.Seq<EventEnvelope>(), materializer));
        Assert.Equal(everything.Skip(7).Select(e => (e.PersistenceId, e.SequenceNr)), resumed.Select(e => (e.PersistenceId, e.SequenceNr)));

        // Live: written after the query started, seen in order.
        var live = query.EventsByTag(ControlTags.Disk, everything[^1].Offset)
            .Where(e => e.PersistenceId.EndsWith(_run, StringComparison.Ordinal))
            .Take(5)
            .RunWith(Sink.Seq<EventEnvelope>(), materializer);
        for (var n = 0; n < 5; n++) await WriteAsync(a, [1000 + n]);
        var followed = await live.WaitAsync(Wait);
        Assert.Equal(Enumerable.Range(1000, 5).Select(v => (long)v), followed.Select(e => ((ReplicationProgressRecorded)e.Event).AppliedThrough));
        Assert.Equal(Enumerable.Range(11, 5).Select(v => (long)v), followed.Select(e => e.SequenceNr));
    }
}

public sealed class SqlitePersistenceConformanceTests : PersistenceConformanceTests, IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-actors-tests", Guid.NewGuid().ToString("N"));

    protected override PersistenceSettings Persistence => PersistenceSettings.Sqlite(_dir);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}

public sealed class PostgresPersistenceConformanceTests : PersistenceConformanceTests, IDisposable
{
    readonly PostgresDatabase _database = new();

    protected override PersistenceSettings Persistence => PersistenceSettings.Postgres(_database.ConnectionString);

    public void Dispose() => _database.Dispose();
}
