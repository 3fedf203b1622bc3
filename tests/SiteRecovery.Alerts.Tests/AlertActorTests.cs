using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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

    private async Task<IHost> StartAsync()
    {
        var persistence = PersistenceSettings.Sqlite(_dir);
        var host = new HostBuilder()
            .ConfigureLogging(l => l.ClearProviders())
            .ConfigureServices(services => services.AddAkka("sr-alerts-test", b => b
                .AddHocon("""
                    akka.loglevel = WARNING
                    akka.persistence.query.journal.sql.refresh-interval = 100ms
                    """, HoconAddMode.Prepend)
                .AddSiteRecoveryPersistence(persistence)
                .AddControlPlaneActors(new EntitySettings(100, null))
                .AddAlerting(Settings)))
            .Build();
        await host.StartAsync();
        return host;
    }

    private static async Task<T> Ask<TKey, T>(IHost host, object message) =>
        await (await host.Services.GetRequiredService<ActorRegistry>().GetAsync<TKey>()).Ask<T>(message, AskTimeout);

    private static async Task Accept<TRegion>(IHost host, object command) =>
        Assert.True((await Ask<TRegion, CommandResult>(host, command)).IsAccepted, $"{command} was rejected");

    private static async Task<IReadOnlyList<AlertView>> WaitFor(IHost host, Func<IReadOnlyList<AlertView>, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Eventually;
        IReadOnlyList<AlertView> alerts;
        do
        {
            alerts = (await Ask<AlertMonitor, AlertList>(host, new GetAlerts())).Alerts;
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

        using (var host = await StartAsync())
        {
            await Accept<ProtectedDisksRegion>(host, new RegisterDisk("d1", "m1", 1L << 30, "ps1", "mt1"));
            await Accept<ProtectedDisksRegion>(host, new RecordRecoveryPoint("d1", "b1", 1, t0, RecoveryPointKind.CrashConsistent));
            await Accept<ProtectedDisksRegion>(host, new RegisterDisk("d2", "m2", 1L << 30, "ps1", "mt1")); // no recovery point
            await Accept<MasterTargetsRegion>(host, new RegisterMasterTarget("mt1", TargetOs.Linux, 16));
            for (var i = 0; i < 15; i++)
                await Accept<MasterTargetsRegion>(host, new AttachReplica("mt1", $"r{i}", $"/dev/r{i}"));

            var alerts = await WaitFor(host, a => Active(a, AlertKind.MasterTargetOutOfSlots, "mt1"), "the out-of-slots alert");
            Assert.DoesNotContain(alerts, a => a.Kind is AlertKind.DiskRpoExceeded or AlertKind.MachineRpoExceeded);

            // 16 minutes later: both disks are over the 15 min default (d2 counted from its registration)
            Interlocked.Exchange(ref _now, t0 + 16 * 60_000);
            alerts = await WaitFor(host, a => Active(a, AlertKind.DiskRpoExceeded, "d1") && Active(a, AlertKind.DiskRpoExceeded, "d2")
                                              && Active(a, AlertKind.MachineRpoExceeded, "m1") && Active(a, AlertKind.MachineRpoExceeded, "m2"),
                "the RPO alerts");
            var d1 = alerts.Single(a => a.Kind == AlertKind.DiskRpoExceeded && a.Target == "d1");
            Assert.Equal(t0 + 16 * 60_000, d1.RaisedAtUnixMs);
            Assert.Contains("over the 900 s threshold of the default", d1.Detail);

            // a fresh recovery point on d1 and a detached replica clear their alerts; d2 stays over
            await Accept<ProtectedDisksRegion>(host, new RecordRecoveryPoint("d1", "b2", 2, t0 + 16 * 60_000, RecoveryPointKind.CrashConsistent));
            await Accept<MasterTargetsRegion>(host, new DetachReplica("mt1", "r3"));
            alerts = await WaitFor(host, a => Cleared(a, AlertKind.DiskRpoExceeded, "d1") && Cleared(a, AlertKind.MachineRpoExceeded, "m1")
                                              && Cleared(a, AlertKind.MasterTargetOutOfSlots, "mt1"), "the alerts to clear");
            Assert.True(Active(alerts, AlertKind.DiskRpoExceeded, "d2"));
            Assert.True(Active(alerts, AlertKind.MachineRpoExceeded, "m2"));

            // the journal of "alerts" has the raise before the clear, and observing again changes nothing
            var system = host.Services.GetRequiredService<ActorSystem>();
            var events = await PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier)
                .CurrentEventsByPersistenceId(AlertMonitor.PersistenceIdValue, 0, long.MaxValue)
                .Select(e => e.Event).RunWith(Sink.Seq<object>(), system.Materializer());
            var d1Events = events.OfType<IAlertEvent>().Where(e => e.Target == "d1").Select(e => e.GetType()).ToList();
            Assert.Equal([typeof(AlertRaised), typeof(AlertCleared)], d1Events);
            var again = await Ask<AlertEvaluator, AlertEvaluator.Evaluated>(host, new AlertEvaluator.EvaluateNow());
            Assert.Equal(new CommandResult.Accepted(0), again.Result);

            before = (await Ask<AlertMonitor, AlertList>(host, new GetAlerts())).Alerts;
            await host.StopAsync();
        }

        using (var host = await StartAsync())
        {
            var after = (await Ask<AlertMonitor, AlertList>(host, new GetAlerts())).Alerts;
            Assert.Equal(before, after);
            Assert.Equal(2, (await Ask<AlertMonitor, AlertList>(host, new GetAlerts(ActiveOnly: true))).Alerts.Count);

            // the evaluator rebuilds its facts from the journal: d2 clears once it gets a recovery point
            await Accept<ProtectedDisksRegion>(host, new RecordRecoveryPoint("d2", "b1", 1, t0 + 16 * 60_000, RecoveryPointKind.AppConsistent));
            await WaitFor(host, a => Cleared(a, AlertKind.DiskRpoExceeded, "d2") && Cleared(a, AlertKind.MachineRpoExceeded, "m2"), "d2 to clear");
            var facts = await Ask<AlertEvaluator, AlertEvaluator.FactsView>(host, new AlertEvaluator.GetFacts());
            Assert.True(facts.CaughtUp);
            Assert.Equal(14, facts.Facts.MasterTargets["mt1"].Attached.Count);
            await host.StopAsync();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
