namespace SiteRecovery.Connections;

/// <summary>
/// How a hop waits before it tries its peer again, and the one loop every hop of the data path reconnects with
/// (agent → process server, process server → master target, and their control links).
///
/// The wait after the <c>n</c>-th failure in a row (counting from 0) is drawn uniformly from
/// <c>[max(Initial, ceiling·(1 − Jitter)), ceiling]</c>, where <c>ceiling = min(Max, Initial·Multiplier^n)</c>:
/// <list type="bullet">
/// <item>never shorter than <see cref="Initial"/> nor longer than <see cref="Max"/>, so no wait is longer than the
/// one the unjittered ladder (<c>Jitter = 0</c>, what every hop did before) would have made;</item>
/// <item>for the same draw a later failure never waits less, and the ceiling grows until it reaches <see cref="Max"/>;</item>
/// <item>the jitter spreads every wait after the first, at the cap too: when a process server restarts, every agent and
/// every forwarder lost it at the same instant, and without jitter they would all knock again at the same instants.
/// The first wait is <see cref="Initial"/> exactly: a server that restarted is not back within it (its first knocks
/// are refused, and cost nothing), and a connection lost to a short blip comes back as fast as before;</item>
/// <item>a connection that reached its peer (it called <c>connected</c>) starts the ladder again when it is lost,
/// so a link that ran for hours is not retried at the cap's pace because of failures long ago.</item>
/// </list>
/// </summary>
/// <param name="Initial">The first wait, and the shortest.</param>
/// <param name="Max">The longest wait.</param>
/// <param name="Multiplier">How much the ceiling grows with each failure in a row (1: it stays at <see cref="Initial"/>).</param>
/// <param name="Jitter">How much of the ceiling is spread: 0 waits the ceiling exactly; 1 (full jitter) anywhere from
/// <see cref="Initial"/> to the ceiling.</param>
public sealed record ReconnectPolicy(TimeSpan Initial, TimeSpan Max, double Multiplier = 2, double Jitter = 1)
{
    public TimeSpan Initial { get; init; } = Initial > TimeSpan.Zero
        ? Initial : throw new ArgumentOutOfRangeException(nameof(Initial), Initial, "the first wait must be positive");
    public TimeSpan Max { get; init; } = Max >= Initial
        ? Max : throw new ArgumentOutOfRangeException(nameof(Max), Max, $"the longest wait must be at least the first ({Initial})");
    public double Multiplier { get; init; } = Multiplier >= 1
        ? Multiplier : throw new ArgumentOutOfRangeException(nameof(Multiplier), Multiplier, "waits must not shrink: at least 1");
    public double Jitter { get; init; } = Jitter is >= 0 and <= 1
        ? Jitter : throw new ArgumentOutOfRangeException(nameof(Jitter), Jitter, "a fraction of the wait: 0..1");

    /// <summary>The longest wait after <paramref name="failures"/> failures in a row (0: the first wait).</summary>
    public TimeSpan Ceiling(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(Max.TotalMilliseconds, Initial.TotalMilliseconds * Math.Pow(Multiplier, Math.Max(0, failures))));

    /// <summary>
    /// The wait after <paramref name="failures"/> failures in a row, for a <paramref name="draw"/> in [0, 1): pure, so its
    /// properties can be checked for every draw.
    /// </summary>
    public TimeSpan NextDelay(int failures, double draw)
    {
        if (draw is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(draw), draw, "a draw is in [0, 1)");
        var ceiling = Ceiling(failures).TotalMilliseconds;
        var floor = Math.Max(Initial.TotalMilliseconds, ceiling * (1 - Jitter));
        return TimeSpan.FromMilliseconds(floor + draw * (ceiling - floor));
    }

    /// <summary>
    /// What a lost, refused or confused peer makes a connection throw: reason enough to reconnect. Anything else is a bug
    /// that a reconnect would only repeat.
    /// </summary>
    public static bool IsConnectionLoss(Exception e) =>
        e is IOException or System.Net.Sockets.SocketException or InvalidDataException or ObjectDisposedException;

    /// <summary>The wait after <paramref name="failures"/> failures in a row, drawn at random.</summary>
    public TimeSpan NextDelay(int failures) => NextDelay(failures, Random.Shared.NextDouble());

    /// <summary>
    /// Runs <paramref name="connection"/> (one connection's life, which usually ends by throwing) again and again until
    /// <paramref name="stop"/>. The connection calls the action it is given once its peer has answered, which starts the
    /// waits over. An exception <paramref name="isLoss"/> accepts goes to <paramref name="lost"/> with the wait before the
    /// next attempt; any other ends the loop and is rethrown. <paramref name="afterEach"/> runs after every attempt, however
    /// it ended. Once <paramref name="stop"/> is set the loop returns at once, from a wait or from the failed attempt, and
    /// says nothing of a loss the stop itself caused.
    /// </summary>
    public Task RunAsync(Func<Action, CancellationToken, Task> connection, Func<Exception, bool> isLoss, Action<Exception, TimeSpan> lost,
        CancellationToken stop, Action? afterEach = null) =>
        LoopAsync(async (connected, ct) => { await connection(connected, ct).ConfigureAwait(false); return false; }, isLoss, lost, afterEach, SleepAsync, stop);

    /// <summary>
    /// <see cref="RunAsync"/> for a connection served by a thread of its own with blocking calls (<see cref="Wire.ControlChannel"/>):
    /// every attempt and every wait happens on the calling thread, which is the point of such a thread.
    /// </summary>
    public void Run(Action<Action> connection, Func<Exception, bool> isLoss, Action<Exception, TimeSpan> lost, CancellationToken stop, Action? afterEach = null)
    {
        var loop = LoopAsync((connected, _) => { connection(connected); return Task.FromResult(false); }, isLoss, lost, afterEach, SleepBlocking, stop);
        // Every task the loop awaited was complete when awaited, so it ran start to end on this thread: nothing is pending.
        loop.GetAwaiter().GetResult();
    }

    /// <summary>
    /// Tries <paramref name="attempt"/> until it returns, waiting as <see cref="RunAsync"/> does after each failure that
    /// <paramref name="isTransient"/> accepts (told to <paramref name="failed"/>). <paramref name="failedAlready"/>: the
    /// caller has just seen the thing fail, so the first attempt comes after the first wait. Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="stop"/> ends it first.
    /// </summary>
    public async Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> attempt, Func<Exception, bool> isTransient, Action<Exception, TimeSpan> failed,
        CancellationToken stop, bool failedAlready = false)
    {
        T result = default!;
        await LoopAsync(async (_, ct) => { result = await attempt(ct).ConfigureAwait(false); return true; }, isTransient, failed, null, SleepAsync, stop,
            failedAlready).ConfigureAwait(false);
        stop.ThrowIfCancellationRequested();
        return result;
    }

    /// <summary>The loop behind all three entries; an attempt returns true when nothing is left to retry.</summary>
    async Task LoopAsync(Func<Action, CancellationToken, Task<bool>> attempt, Func<Exception, bool> isLoss, Action<Exception, TimeSpan> lost,
        Action? afterEach, Func<TimeSpan, CancellationToken, Task<bool>> sleep, CancellationToken stop, bool failedAlready = false)
    {
        var failures = 0;
        void Connected() => failures = 0;
        TimeSpan Next()
        {
            var wait = NextDelay(failures);
            if (failures < int.MaxValue) failures++;
            return wait;
        }
        if (failedAlready && !await sleep(Next(), stop).ConfigureAwait(false)) return;
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                if (await attempt(Connected, stop).ConfigureAwait(false)) return;
                wait = Next();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) when (isLoss(e))
            {
                if (stop.IsCancellationRequested) return;
                wait = Next();
                lost(e, wait);
            }
            finally { afterEach?.Invoke(); }
            if (!await sleep(wait, stop).ConfigureAwait(false)) return;
        }
    }

    static async Task<bool> SleepAsync(TimeSpan wait, CancellationToken stop)
    {
        try { await Task.Delay(wait, stop).ConfigureAwait(false); }
        catch (OperationCanceledException) { return false; }
        return true;
    }

    static Task<bool> SleepBlocking(TimeSpan wait, CancellationToken stop) => Task.FromResult(!stop.WaitHandle.WaitOne(wait));
}
