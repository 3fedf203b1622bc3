using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;
using Microsoft.Data.Sqlite;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Actors.Scheduling;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Actors.Tests;

/// <summary>
/// The shell the group-point and drill schedulers run on, with a schedule of the test's own: every disk registered in the
/// journal is due at every tick. Whatever the schedule, what the journal holds must reach it, a key must not be started
/// again while its start is in flight (other keys go on), and every start, also one that faults or throws before its
/// task exists, must free its key.
/// </summary>
public sealed class JournalFollowingSchedulerTests : IDisposable
{
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(20);
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-actors-tests", Guid.NewGuid().ToString("N"));

    sealed class EveryDisk(Func<string, Task<string>> start, ConcurrentQueue<string> outcomes)
        : JournalFollowingScheduler<ImmutableSortedSet<string>, string, string>(
            ImmutableSortedSet<string>.Empty, Tick, () => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "the test schedule")
    {
        protected override ImmutableSortedSet<string> Apply(ImmutableSortedSet<string> schedule, object @event) =>
            @event is DiskRegistered d ? schedule.Add(d.DiskId) : schedule;
        protected override IEnumerable<string> Due(ImmutableSortedSet<string> schedule, long nowUnixMs) => schedule;
        protected override string KeyOf(string due) => due;
        protected override Task<string> Start(string due) => start(due);
        protected override string Failed(string detail) => detail;
        protected override ImmutableSortedSet<string> Finished(ImmutableSortedSet<string> schedule, string due, long attemptUnixMs, string result)
        {
            outcomes.Enqueue($"{due}: {result}");
            return schedule;
        }
    }

    [Fact]
    public async Task A_key_in_flight_is_not_started_again_and_every_outcome_frees_it()
    {
        await using var node = await ActorTestNode.StartAsync(PersistenceSettings.Sqlite(_dir));
        var (slow, quick) = ("disk-slow", "disk-quick");
        var starts = new ConcurrentQueue<string>();
        var outcomes = new ConcurrentQueue<string>();
        var inFlight = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowStarts = 0;
        Func<string, Task<string>> start = disk =>
        {
            starts.Enqueue(disk);
            if (disk != slow) return Task.FromResult("ok");
            return Interlocked.Increment(ref slowStarts) switch
            {
                1 => inFlight.Task,
                2 => throw new InvalidOperationException("thrown before a task"),
                _ => Task.FromResult("ok"),
            };
        };
        var scheduler = node.System.ActorOf(Props.Create(() => new EveryDisk(start, outcomes)), "test-scheduler");
        foreach (var disk in new[] { slow, quick })
            Assert.True((await node.Ask<ProtectedDisksRegion, CommandResult>(new RegisterDisk(disk, "m", 10, "ps", "mt"))).IsAccepted);

        // Both disks come from the journal; the quick one goes on being started while the slow one's start is in flight.
        await Until(() => starts.Count(d => d == quick) >= 10, "10 starts of the quick disk", starts);
        Assert.Equal([quick, slow], await scheduler.Ask<ImmutableSortedSet<string>>(EveryDisk.GetSchedule.Instance, TimeSpan.FromSeconds(10)));
        Assert.True(starts.Count(d => d == slow) == 1, $"got {starts.Count(d => d == slow)} starts of {slow} while its first was in flight, want 1");
        Assert.DoesNotContain(outcomes, o => o.StartsWith(slow, StringComparison.Ordinal));

        // A start that faults frees the key; so does one that throws before it has a task; the next one runs.
        inFlight.SetException(new IOException("boom"));
        await Until(() => outcomes.Count(o => o.StartsWith(slow, StringComparison.Ordinal)) >= 3, $"3 outcomes of {slow}", outcomes);
        Assert.Equal([$"{slow}: failed: boom", $"{slow}: failed: thrown before a task", $"{slow}: ok"],
            outcomes.Where(o => o.StartsWith(slow, StringComparison.Ordinal)).Take(3));
    }

    static async Task Until(Func<bool> done, string what, IEnumerable<string> seen)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!done())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"no {what} within 30 s; got: {string.Join(", ", seen.Take(20))}");
            await Task.Delay(Tick);
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { } // best effort, as the journal tests
    }
}
