using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Connections;
using Xunit;

namespace SiteRecovery.Tests.Connections;

/// <summary>The waits of the one reconnect loop every hop uses, and the loop itself: reset, stop, errors, threads.</summary>
public class ReconnectPolicyProperties
{
    static readonly Gen<ReconnectPolicy> Policies =
        from initialMs in Gen.Choose(1, 10_000)
        from extraMs in Gen.Choose(0, 600_000)
        from multiplierTenths in Gen.Choose(10, 40)
        from jitterPercent in Gen.Choose(0, 100)
        select new ReconnectPolicy(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(initialMs + extraMs),
            multiplierTenths / 10.0, jitterPercent / 100.0);

    static readonly Gen<double> Draws = Gen.Choose(0, 1_000_000).Select(i => i / 1_000_001.0);

    [Property(MaxTest = 500)]
    public Property A_wait_is_never_below_the_first_nor_above_the_cap() =>
        Prop.ForAll(Policies.ToArbitrary(), Gen.Choose(0, 400).ToArbitrary(), Draws.ToArbitrary(), (p, failures, draw) =>
        {
            var wait = p.NextDelay(failures, draw);
            return (wait >= p.Initial && wait <= p.Max).Label($"got {wait} after {failures} failures (draw {draw}), want {p.Initial}..{p.Max} ({p})");
        });

    [Property(MaxTest = 500)]
    public Property For_the_same_draw_a_later_failure_never_waits_less() =>
        Prop.ForAll(Policies.ToArbitrary(), Gen.Choose(0, 60).ToArbitrary(), Draws.ToArbitrary(), (p, failures, draw) =>
        {
            var now = p.NextDelay(failures, draw);
            var next = p.NextDelay(failures + 1, draw);
            return (next >= now).Label($"got {next} after {failures + 1} failures, below {now} after {failures} ({p}, draw {draw})");
        });

    [Property(MaxTest = 300)]
    public Property The_ceiling_doubles_until_it_reaches_the_cap_and_stays_there() =>
        Prop.ForAll(Policies.ToArbitrary(), Gen.Choose(0, 60).ToArbitrary(), (p, failures) =>
        {
            var p2 = p with { Multiplier = 2 };
            var want = Math.Min(p2.Max.TotalMilliseconds, p2.Initial.TotalMilliseconds * Math.Pow(2, failures));
            var got = p2.Ceiling(failures).TotalMilliseconds;
            var atCap = p2.Ceiling(failures + 64) == p2.Max;
            return (Math.Abs(got - want) < 1e-6 && atCap).Label($"ceiling after {failures} failures: got {got} ms, want {want} ms; after {failures + 64}: {p2.Ceiling(failures + 64)}, want {p2.Max} ({p2})");
        });

    [Fact]
    public void Without_jitter_the_waits_are_the_ladder_each_hop_used_before()
    {
        var p = new ReconnectPolicy(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), Jitter: 0);
        var got = Enumerable.Range(0, 8).Select(n => p.NextDelay(n, 0.5).TotalMilliseconds).ToArray();
        Assert.Equal([200, 400, 800, 1600, 3200, 5000, 5000, 5000], got);
    }

    [Fact]
    public void The_first_wait_is_exact_and_every_later_one_spreads_a_fleet_of_a_hundred_loops()
    {
        var p = new ReconnectPolicy(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5));
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(p.Initial, p.NextDelay(0)));
        foreach (var failures in new[] { 1, 3, 10, 1000 })
        {
            var waits = Enumerable.Range(0, 100).Select(_ => p.NextDelay(failures).TotalMilliseconds).ToArray();
            var ceiling = p.Ceiling(failures).TotalMilliseconds;
            var span = ceiling - p.Initial.TotalMilliseconds;
            // Uniform over the span: 100 draws all inside one half of it would happen about once in 2^99 runs.
            Assert.True(waits.Max() - waits.Min() > span / 2,
                $"after {failures} failures 100 loops waited {waits.Min():0}..{waits.Max():0} ms, want a spread over more than half of {p.Initial.TotalMilliseconds:0}..{ceiling:0}");
        }
    }

    [Fact]
    public void Jitter_spreads_the_waits_at_the_cap_too()
    {
        var p = new ReconnectPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(3), Jitter: 0.5);
        var waits = Enumerable.Range(0, 100).Select(_ => p.NextDelay(50)).ToArray();
        Assert.All(waits, w => Assert.InRange(w, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(3)));
        Assert.True(waits.Distinct().Count() > 50, $"got {waits.Distinct().Count()} distinct waits among 100 at the cap, want more than 50");
    }

    [Theory]
    [InlineData(0, 1000, 2, 0.5)]
    [InlineData(100, 50, 2, 0.5)]
    [InlineData(100, 1000, 0.5, 0.5)]
    [InlineData(100, 1000, 2, 1.5)]
    public void A_policy_that_could_break_a_property_is_refused(int initialMs, int maxMs, double multiplier, double jitter) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReconnectPolicy(TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(maxMs), multiplier, jitter));

    static readonly ReconnectPolicy Exact = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(64), Jitter: 0);
    static bool IsIo(Exception e) => e is IOException;

    [Fact]
    public async Task The_waits_start_over_after_a_connection_reached_its_peer_and_not_otherwise()
    {
        var waits = new List<double>();
        var attempts = 0;
        using var stop = new CancellationTokenSource();
        await Exact.RunAsync((connected, _) =>
        {
            attempts++;
            if (attempts == 5) connected();
            if (attempts == 10) stop.Cancel();
            throw new IOException($"attempt {attempts}");
        }, IsIo, (_, wait) => waits.Add(wait.TotalMilliseconds), stop.Token);
        Assert.Equal([1, 2, 4, 8, 1, 2, 4, 8, 16], waits);
    }

    [Fact]
    public async Task A_connection_that_ends_without_an_error_is_also_followed_by_a_wait_and_a_new_attempt()
    {
        var attempts = 0;
        using var stop = new CancellationTokenSource();
        await Exact.RunAsync((connected, _) =>
        {
            connected();
            if (++attempts == 3) stop.Cancel();
            return Task.CompletedTask;
        }, IsIo, (e, _) => Assert.Fail($"nothing was lost, yet told {e.Message}"), stop.Token);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Stop_ends_a_long_wait_at_once_and_the_loss_it_causes_is_not_reported()
    {
        var policy = new ReconnectPolicy(TimeSpan.FromHours(1), TimeSpan.FromHours(1));
        using var stop = new CancellationTokenSource();
        var told = new List<string>();
        var waiting = new TaskCompletionSource();
        var loop = policy.RunAsync((_, _) => throw new IOException("refused"), IsIo, (e, _) => { told.Add(e.Message); waiting.TrySetResult(); }, stop.Token);
        await waiting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        stop.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"the loop ended {clock.Elapsed} after the stop, want at once");

        using var stop2 = new CancellationTokenSource();
        var connectedOnce = new TaskCompletionSource();
        var running = policy.RunAsync(async (connected, ct) =>
        {
            connectedOnce.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new IOException("closed because the stop closed it");
        }, e => e is IOException or OperationCanceledException, (e, _) => told.Add(e.Message), stop2.Token);
        await connectedOnce.Task.WaitAsync(TimeSpan.FromSeconds(10));
        stop2.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(["refused"], told);
    }

    [Fact]
    public void The_blocking_loop_stops_at_once_and_runs_every_attempt_on_its_own_thread()
    {
        var policy = new ReconnectPolicy(TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), Multiplier: 1_000_000, Jitter: 0);
        using var stop = new CancellationTokenSource();
        var threads = new HashSet<int>();
        var afterEach = 0;
        var clock = new Stopwatch();
        var thread = new Thread(() => policy.Run(_ =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            throw new IOException("refused");
        }, IsIo, (_, wait) =>
        {
            // The second wait is 1000 s long: stop during it.
            if (wait > TimeSpan.FromMinutes(1)) { clock.Start(); stop.CancelAfter(50); }
        }, stop.Token, afterEach: () => afterEach++));
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)), "the blocking loop did not end after the stop");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"the loop ended {clock.Elapsed} after the stop was asked for, want 50 ms");
        Assert.Equal([thread.ManagedThreadId], threads);
        Assert.Equal(2, afterEach);
    }

    [Fact]
    public async Task An_error_that_is_not_a_loss_ends_the_loop_and_is_thrown()
    {
        var attempts = 0;
        var loop = Exact.RunAsync((_, _) =>
        {
            if (++attempts < 3) throw new IOException("lost");
            throw new InvalidOperationException("a bug");
        }, IsIo, (_, _) => { }, CancellationToken.None);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => loop);
        Assert.Equal("a bug", e.Message);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Retry_returns_what_the_first_successful_attempt_returned_and_throws_when_stopped()
    {
        var attempts = 0;
        var failed = new List<double>();
        var got = await Exact.RetryAsync(_ => ++attempts < 4 ? throw new IOException("not yet") : Task.FromResult(attempts * 10),
            IsIo, (_, wait) => failed.Add(wait.TotalMilliseconds), CancellationToken.None);
        Assert.Equal(40, got);
        Assert.Equal([1, 2, 4], failed);

        using var stop = new CancellationTokenSource();
        var retry = new ReconnectPolicy(TimeSpan.FromHours(1), TimeSpan.FromHours(1)).RetryAsync<int>(_ => throw new IOException("never"),
            IsIo, (_, _) => stop.Cancel(), stop.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => retry.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task A_retry_after_a_failure_the_caller_saw_waits_first_and_goes_on_up_the_ladder()
    {
        var attempts = 0;
        var failed = new List<double>();
        var got = await Exact.RetryAsync(_ => ++attempts < 3 ? throw new IOException("not yet") : Task.FromResult("reopened"),
            IsIo, (_, wait) => failed.Add(wait.TotalMilliseconds), CancellationToken.None, failedAlready: true);
        Assert.Equal("reopened", got);
        Assert.Equal([2, 4], failed);

        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        var never = 0;
        var retry = new ReconnectPolicy(TimeSpan.FromHours(1), TimeSpan.FromHours(1)).RetryAsync(_ => Task.FromResult(++never),
            IsIo, (_, _) => { }, stop.Token, failedAlready: true);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => retry.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, never);
    }
}
