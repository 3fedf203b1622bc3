using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// End to end on a SQLite journal: real ProtectedDisk/MasterTarget events through the control-plane regions, the
/// evaluator following the journal with an injected clock, alerts raised then cleared, and recovered after a restart.
/// </summary>
public sealed class AlertActorTests : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Eventually = TimeSpan.FromSeconds(20);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-alerts-" + Guid.NewGuid().ToString("N")[..8]);
    private long _now;

    private long Now => Interlocked.Read(ref _now);

    private AlertSettings Settings => new(TimeSpan.FromMinutes(15), 80, 70, TimeSpan.FromMilliseconds(200), SnapshotEvery: 3, Clock: () => Now);

    private Task<ActorTestNode> StartAsync() =>
        ActorTestNode.StartAsync(PersistenceSettings.Sqlite(_dir), new EntitySettings(100, null), b => b.AddAlerting(Settings));

    private static async Task Accept<TRegion>(ActorTestNode node, object command) =>
        Assert.True((await node.Ask<TRegion, CommandResult>(command)).IsAccepted, $"{command} was rejected");

    private static async Task<IReadOnlyList<AlertView>> WaitFor(ActorTestNode node, Func<IReadOnlyList<AlertView>, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Eventually;
        IReadOnlyList<AlertView> alerts;
        do
        {
            alerts = (await node.Ask<AlertMonitor, AlertList>(new GetAlerts())).Alerts;
            if (condition(alerts)) return alerts;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);

        Assert.Fail($"timed out waiting for {what}; alerts: {string.Join("; ", alerts)}");
        return alerts;
    }

    private static bool Active(IReadOnlyList<AlertView> alerts, AlertKind kind, string target) =>
        alerts.Any(a => a.Kind == kind && a.Target == target && a.Active);

    private static bool Cleared(IReadOnlyList<AlertView> alerts, AlertKind kind, string target) =>
        alerts.Any(a => a.Kind == kind && a.Target == target && !a.Active) && !Active(alerts, kind, target);

    [Fact]
    public async Task Alerts_are_raised_then_cleared_from_journal_events_and_recovered_after_restart()
    {
        var t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Interlocked.Exchange(ref _now, t0);
        IReadOnlyList<AlertView> before;

        await using (var node = await StartAsync())
        {
            await Accept<ProtectedDisksRegion>(node, new RegisterDisk("d1", "m1", 1L << 30, "ps1", "mt1"));
            await Accept<ProtectedDisksRegion>(node, new RecordRecoveryPoint("d1", "b1", 1, t0, RecoveryPointKind.CrashConsistent));
            await Accept<ProtectedDisksRegion>(node, new RegisterDisk("d2", "m2", 1L << 30, "ps1", "mt1")); // no recovery point
            await Accept<MasterTargetsRegion>(node, new RegisterMasterTarget("mt1", TargetOs.Linux, 16));
            for (var i = 0; i < 15; i++)
                await Accept<MasterTargetsRegion>(node, new AttachReplica("mt1", $"r{i}", $"/dev/r{i}"));

            var alerts = await WaitFor(node, a => Active(a, AlertKind.MasterTargetOutOfSlots, "mt1"), "the out-of-slots alert");
            Assert.DoesNotContain(alerts, a => a.Kind is AlertKind.DiskRpoExceeded or AlertKind.MachineRpoExceeded);

            // 16 minutes later: both disks are over the 15 min default (d2 counted from its registration)
            Interlocked.Exchange(ref _now, t0 + 16 * 60_000);
            alerts = await WaitFor(node, a => Active(a, AlertKind.DiskRpoExceeded, "d1") && Active(a, AlertKind.DiskRpoExceeded, "d2")
                                              && Active(a, AlertKind.MachineRpoExceeded, "m1") && Active(a, AlertKind.MachineRpoExceeded, "m2"),
                "the RPO alerts");
            var d1 = alerts.Single(a => a.Kind == AlertKind.DiskRpoExceeded && a.Target == "d1");
            Assert.Equal(t0 + 16 * 60_000, d1.RaisedAtUnixMs);
            Assert.Contains("over the 900 s threshold of the default", d1.Detail);

            // a fresh recovery point on d1 and a detached replica clear their alerts; d2 stays over
            await Accept<ProtectedDisksRegion>(node, new RecordRecoveryPoint("d1", "b2", 2, t0 + 16 * 60_000, RecoveryPointKind.CrashConsistent));
            await Accept<MasterTargetsRegion>(node, new DetachReplica("mt1", "r3"));
            alerts = await WaitFor(node, a => Cleared(a, AlertKind.DiskRpoExceeded, "d1") && Cleared(a, AlertKind.MachineRpoExceeded, "m1")
                                              && Cleared(a, AlertKind.MasterTargetOutOfSlots, "mt1"), "the alerts to clear");
            Assert.True(Active(alerts, AlertKind.DiskRpoExceeded, "d2"));
            Assert.True(Active(alerts, AlertKind.MachineRpoExceeded, "m2"));

            // the journal of "alerts" has the raise before the clear, and observing again changes nothing
            var system = node.System;
            var events = await PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier)
                .CurrentEventsByPersistenceId(AlertMonitor.PersistenceIdValue, 0, long.MaxValue)
                .Select(e => e.Event).RunWith(Sink.Seq<object>(), system.Materializer());
            var d1Events = events.OfType<IAlertEvent>().Where(e => e.Target == "d1").Select(e => e.GetType()).ToList();
            Assert.Equal([typeof(AlertRaised), typeof(AlertCleared)], d1Events);
            var again = await node.Ask<AlertEvaluator, AlertEvaluator.Evaluated>(new AlertEvaluator.EvaluateNow());
            Assert.Equal(new CommandResult.Accepted(0), again.Result);

            before = (await node.Ask<AlertMonitor, AlertList>(new GetAlerts())).Alerts;
        }

        await using (var node = await StartAsync())
        {
            var after = (await node.Ask<AlertMonitor, AlertList>(new GetAlerts())).Alerts;
            Assert.Equal(before, after);
            Assert.Equal(2, (await node.Ask<AlertMonitor, AlertList>(new GetAlerts(ActiveOnly: true))).Alerts.Count);

            // the evaluator rebuilds its facts from the journal: d2 clears once it gets a recovery point
            await Accept<ProtectedDisksRegion>(node, new RecordRecoveryPoint("d2", "b1", 1, t0 + 16 * 60_000, RecoveryPointKind.AppConsistent));
            await WaitFor(node, a => Cleared(a, AlertKind.DiskRpoExceeded, "d2") && Cleared(a, AlertKind.MachineRpoExceeded, "m2"), "d2 to clear");
            var facts = await node.Ask<AlertEvaluator, AlertEvaluator.FactsView>(new AlertEvaluator.GetFacts());
            Assert.True(facts.CaughtUp);
            Assert.Equal(14, facts.Facts.MasterTargets["mt1"].Attached.Count);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
