using Akka.Actor;
using Akka.Persistence;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// Through a real SQLite journal: the app-consistency events (written here by a minimal persistent actor, as the actor
/// that will record app-consistent bookmarks does not exist yet) raise and clear the alert, and the evaluator answers
/// the RPO read model for disks registered through the real ProtectedDisk region.
/// </summary>
public sealed class AppConsistencyAlertActorTests : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-app-alerts-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly long _now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private sealed class EventWriter : ReceivePersistentActor
    {
        public override string PersistenceId => "app-consistency-writer";

        public EventWriter() => Command<IControlEvent>(e => Persist(e, _ => Sender.Tell(e)));
    }

    [Fact]
    public async Task The_alert_is_raised_from_a_journaled_failure_and_cleared_by_a_later_app_consistent_point()
    {
        var settings = new AlertSettings(TimeSpan.FromMinutes(15), 80, 70, TimeSpan.FromMilliseconds(200), Clock: () => _now + 30_000);
        await using var node = await ActorTestNode.StartAsync(
            SiteRecovery.Actors.Hosting.PersistenceSettings.Sqlite(_dir), new EntitySettings(100, null), b => b.AddAlerting(settings));
        var registry = node.Registry;
        var system = node.System;
        var writer = system.ActorOf(Props.Create(() => new EventWriter()), "writer");
        var monitor = await registry.GetAsync<AlertMonitor>();

        async Task<IReadOnlyList<AlertView>> WaitFor(Func<IReadOnlyList<AlertView>, bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            IReadOnlyList<AlertView> alerts;
            do
            {
                alerts = (await monitor.Ask<AlertList>(new GetAlerts(), AskTimeout)).Alerts;
                if (condition(alerts)) return alerts;
                await Task.Delay(50);
            } while (DateTime.UtcNow < deadline);
            Assert.Fail($"timed out waiting for {what}; alerts: {string.Join("; ", alerts)}");
            return alerts;
        }

        await writer.Ask<object>(new AppConsistencyFailed("web01", null, "app-1", AppConsistencyFailure.HookTimedOut,
            "script /opt/hooks/db.sh freeze: no answer within 10 s, killed with its process tree", _now), AskTimeout);
        var raised = await WaitFor(a => a.Any(x => x is { Kind: AlertKind.AppConsistencyFailed, Target: "web01", Active: true }), "the alert to be raised");
        var alert = raised.Single(x => x.Kind == AlertKind.AppConsistencyFailed);
        Assert.Contains("HookTimedOut", alert.Detail);
        Assert.Contains("/opt/hooks/db.sh", alert.Detail);

        await writer.Ask<object>(new AppConsistentPointRecorded("web01", null, "app-2", _now + 1_000), AskTimeout);
        await WaitFor(a => a.Any(x => x is { Kind: AlertKind.AppConsistencyFailed, Target: "web01", Active: false })
                           && !a.Any(x => x is { Kind: AlertKind.AppConsistencyFailed, Active: true }), "the alert to clear");

        // RPO read model from the same facts: a disk registered and given a point through the real region
        var disks = await registry.GetAsync<ProtectedDisksRegion>();
        Assert.True((await disks.Ask<CommandResult>(new RegisterDisk("web01-d1", "web01", 1 << 30, "ps1", "mt1"), AskTimeout)).IsAccepted);
        Assert.True((await disks.Ask<CommandResult>(new RecordRecoveryPoint("web01-d1", "auto-1", 3, _now + 10_000, RecoveryPointKind.CrashConsistent), AskTimeout)).IsAccepted);
        var evaluator = await registry.GetAsync<AlertEvaluator>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        RpoReport? report = null;
        while (DateTime.UtcNow < deadline)
        {
            if (await evaluator.Ask<object>(new AlertEvaluator.GetRpo(), AskTimeout) is RpoReport r && r.Disks.Any(d => d.NewestPointId == "auto-1")) { report = r; break; }
            await Task.Delay(50);
        }
        Assert.NotNull(report);
        Assert.Equal(new DiskRpoEntry("web01-d1", "web01", 20_000, _now + 10_000, "auto-1", 15 * 60_000, false, null), Assert.Single(report.Disks));
        Assert.Equal(new MachineRpoEntry("web01", 20_000, _now + 10_000, 1, "web01-d1", false), Assert.Single(report.Machines));
    }
}
