using Akka.Actor;
using SiteRecovery.Actors.Alerts;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using Xunit;

namespace SiteRecovery.Alerts.Tests;

/// <summary>
/// Through the real ProtectedDisk region and a real SQLite journal: the commands the node's data-path events send for a
/// storage fault (<see cref="StopReplication"/>, then <see cref="ResumeReplication"/>) raise the disk's
/// <see cref="AlertKind.DiskReplicationStopped"/> alert, naming the reason, and clear it.
/// </summary>
public sealed class ReplicationStoppedAlertActorTests : IDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-stop-alerts-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly long _now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    [Fact]
    public async Task A_stopped_disk_raises_its_alert_with_the_reason_and_the_resume_clears_it()
    {
        var settings = new AlertSettings(TimeSpan.FromMinutes(15), 80, 70, TimeSpan.FromMilliseconds(200), Clock: () => _now);
        await using var node = await ActorTestNode.StartAsync(
            SiteRecovery.Actors.Hosting.PersistenceSettings.Sqlite(_dir), new EntitySettings(100, null), b => b.AddAlerting(settings));
        var registry = node.Registry;
        var monitor = await registry.GetAsync<AlertMonitor>();
        var disks = await registry.GetAsync<ProtectedDisksRegion>();

        async Task WaitFor(Func<IReadOnlyList<AlertView>, bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            IReadOnlyList<AlertView> alerts;
            do
            {
                alerts = (await monitor.Ask<AlertList>(new GetAlerts(), AskTimeout)).Alerts;
                if (condition(alerts)) return;
                await Task.Delay(50);
            } while (DateTime.UtcNow < deadline);
            Assert.Fail($"timed out waiting for {what}; alerts: {string.Join("; ", alerts)}");
        }

        Assert.True((await disks.Ask<CommandResult>(new RegisterDisk("db-d1", "db", 1 << 30, "ps1", "mt1"), AskTimeout)).IsAccepted);
        Assert.True((await disks.Ask<CommandResult>(new StopReplication("db-d1", DiskStopReason.SpoolWriteFailed, 41, "No space left on device", _now), AskTimeout)).IsAccepted);
        await WaitFor(a => a.Any(x => x is { Kind: AlertKind.DiskReplicationStopped, Target: "db-d1", Active: true }
                                      && x.Detail.Contains("SpoolWriteFailed: No space left on device") && x.Detail.Contains("#41")), "the alert to be raised");
        var view = await disks.Ask<DiskView>(new GetDisk("db-d1", _now), AskTimeout);
        Assert.Equal(DiskStopReason.SpoolWriteFailed, view.Stopped?.Reason);

        Assert.True((await disks.Ask<CommandResult>(new ResumeReplication("db-d1", _now + 1), AskTimeout)).IsAccepted);
        await WaitFor(a => !a.Any(x => x is { Kind: AlertKind.DiskReplicationStopped, Active: true })
                           && a.Any(x => x is { Kind: AlertKind.DiskReplicationStopped, Target: "db-d1", Active: false }), "the alert to clear");
    }
}
