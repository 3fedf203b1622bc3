using System.Collections.Concurrent;
using System.Diagnostics;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.Consistency;

/// <summary>A group bookmark to take across <paramref name="Machines"/> (agent ids) within <paramref name="Timeout"/>.</summary>
public sealed record GroupBookmarkRequest(string GroupId, string BookmarkId, IReadOnlyList<string> Machines, bool AppConsistent, TimeSpan Timeout);

public enum GroupBookmarkOutcome { Committed, Aborted }

/// <summary>
/// The outcome of a group bookmark. <see cref="StallMs"/> is the write stall seen from the coordinator: from the
/// first hold sent to the last release confirmed (an upper bound of any agent's stall, network included);
/// <see cref="AgentHeldMs"/> is each agent's own measure, from its locks taken to released.
/// </summary>
public sealed record GroupBookmarkResult(
    string GroupId,
    string BookmarkId,
    GroupBookmarkOutcome Outcome,
    RecoveryPointKind? Kind,
    string? AppConsistencyFailure,
    long TimeUnixMs,
    IReadOnlyDictionary<string, long> Held,
    IReadOnlyDictionary<string, long> Sequences,
    double StallMs,
    IReadOnlyDictionary<string, double> AgentHeldMs,
    GroupAbortReason? AbortReason,
    string? AbortDetail,
    bool Retryable = false);

/// <summary>
/// Issues group bookmarks (see <see cref="GroupBookmarkState"/> for the phases): one at a time per group, over
/// every disk of every listed machine. A thin shell: it sends what the state machine asks, feeds back what comes,
/// and records the points it emits through <paramref name="record"/> (the ProtectedDisk actors in the node).
/// </summary>
public sealed class ConsistencyCoordinator(IGroupBookmarkPath path, Action<RecordRecoveryPoint> record, Action<string> log)
{
    /// <summary>How long a marker may take to become durable at the target after the commit (replication lag, not stall).</summary>
    public TimeSpan DurableTimeout { get; init; } = TimeSpan.FromSeconds(60);

    readonly ConcurrentDictionary<string, SemaphoreSlim> _groups = new();

    /// <summary>Stall of every committed bookmark since start (ms), for the bench and the API.</summary>
    public ConcurrentQueue<double> Stalls { get; } = new();

    public async Task<GroupBookmarkResult> BookmarkAsync(GroupBookmarkRequest req, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(req.BookmarkId)) throw new ArgumentException("bookmark: a name is required");
        if (req.Machines.Count == 0) throw new ArgumentException("machines: at least one machine is required");
        if (req.Timeout <= TimeSpan.Zero) throw new ArgumentException("timeoutMs: must be positive");
        var connected = path.DisksByMachine;
        var absent = req.Machines.Where(m => !connected.ContainsKey(m)).ToList();
        if (absent.Count > 0)
            throw new InvalidOperationException($"machine(s) {string.Join(", ", absent)} of group {req.GroupId} have no disk connected to this master target; a group bookmark needs every member");

        var gate = _groups.GetOrAdd(req.GroupId, _ => new SemaphoreSlim(1, 1));
        if (!await gate.WaitAsync(req.Timeout, ct).ConfigureAwait(false))
            throw new TimeoutException($"group {req.GroupId}: another group bookmark was still running after {req.Timeout.TotalMilliseconds:0} ms");
        try { return await RunAsync(req, req.Machines.Distinct().ToDictionary(m => m, m => connected[m]), ct).ConfigureAwait(false); }
        finally { gate.Release(); }
    }

    async Task<GroupBookmarkResult> RunAsync(GroupBookmarkRequest req, Dictionary<string, IReadOnlyList<string>> machines, CancellationToken ct)
    {
        var budget = Stopwatch.StartNew();
        TimeSpan Left() => req.Timeout - budget.Elapsed > TimeSpan.FromMilliseconds(1) ? req.Timeout - budget.Elapsed : TimeSpan.FromMilliseconds(1);
        var state = GroupBookmarkState.Start(req.BookmarkId, req.AppConsistent, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), machines);
        var holdId = Guid.NewGuid().ToString("n");
        var agentHeld = new ConcurrentDictionary<string, double>();
        var allDisks = state.AllDisks.ToList();
        // Waiters first: a marker durable before anyone waits would be taken for an abandoned one.
        var durable = allDisks.ToDictionary(d => d, d => path.GroupMarkerDurableAsync(d, req.BookmarkId));
        var stall = Stopwatch.StartNew();
        GroupBookmarkAction? action = null;
        try
        {
            // Phase 1: hold every machine; the lease covers the whole budget, so a live coordinator's commit is always in time.
            var holds = machines.Select(async kv =>
            {
                var reply = await path.AskAgentAsync(new HoldRequest(Guid.NewGuid().ToString("n"), holdId, req.BookmarkId, kv.Value, req.AppConsistent, (int)Math.Ceiling(req.Timeout.TotalMilliseconds)), Left(), ct).ConfigureAwait(false);
                return reply is Held h
                    ? new HeldReported(kv.Key, h.Sequences, h.Error, h.FreezeFailure, Unreachable: h.Sequences.Count == 0 && IsPathFailure(h.Error), h.FreezeFailureKind, h.Retryable)
                    : new HeldReported(kv.Key, new Dictionary<string, long>(), $"unexpected answer {reply.GetType().Name}", null);
            }).ToList();
            action = await FeedAsync(holds, s => s.Phase != GroupBookmarkPhase.Holding).ConfigureAwait(false);

            if (action is SendCommits)
            {
                var commits = machines.Select(async kv =>
                {
                    var reply = await path.AskAgentAsync(new CommitHold(Guid.NewGuid().ToString("n"), holdId, req.BookmarkId, kv.Value), Left(), ct).ConfigureAwait(false);
                    if (reply is HoldEnded e)
                    {
                        if (e.HeldMs > 0) agentHeld[kv.Key] = e.HeldMs;
                        return new CommitReported(kv.Key, e.Marked, e.Sequences, e.HeldMs, e.Error);
                    }
                    return new CommitReported(kv.Key, false, new Dictionary<string, long>(), 0, $"unexpected answer {reply.GetType().Name}");
                }).ToList();
                action = await FeedAsync(commits, s => s.Phase != GroupBookmarkPhase.Committing).ConfigureAwait(false);
                stall.Stop();
                if (action is null && state.Phase == GroupBookmarkPhase.AwaitingDurable)
                {
                    var waits = state.Markers.Keys.Select(async d =>
                    {
                        try { return (GroupBookmarkInput)new MarkerDurable(d, await durable[d].WaitAsync(DurableTimeout, ct).ConfigureAwait(false)); }
                        catch (TimeoutException) { return new PhaseTimedOut(); }
                        catch (SiteRecovery.Journal.Resync.PointInsideResyncException e) { return new MarkerInsideResync(d, e.Message); }
                    }).ToList();
                    action = await FeedAsync(waits, s => s.Finished).ConfigureAwait(false);
                    // Recorded before the waits are dropped: while any is registered the master target takes no
                    // automatic point, which would reach a disk first with a later sequence and make it refuse this one.
                    if (action is RecordPoints points)
                        foreach (var p in points.Points) record(p);
                }
            }
        }
        finally
        {
            path.ForgetGroupMarkers(req.BookmarkId, allDisks);
        }
        stall.Stop();

        switch (action)
        {
            case SendAborts abort:
                // Every machine, answered or not: a hold still on its way is refused when it arrives after its abort.
                var released = machines.Select(kv => path.AskAgentAsync(new AbortHold(Guid.NewGuid().ToString("n"), holdId, abort.Detail, kv.Value), TimeSpan.FromSeconds(2), CancellationToken.None)).ToList();
                await Task.WhenAll(released).ConfigureAwait(false);
                foreach (var r in released) if (r.Result is HoldEnded { HeldMs: > 0 } e) agentHeld.TryAdd(machines.Keys.ElementAt(released.IndexOf(r)), e.HeldMs);
                stall.Stop();
                log($"group {req.GroupId}: bookmark {req.BookmarkId} aborted ({abort.Reason}: {abort.Detail}); every hold released, no point recorded");
                break;
            case RecordPoints:
                Stalls.Enqueue(stall.Elapsed.TotalMilliseconds);
                if (state.AppConsistencyFailure is { } why)
                    log($"group {req.GroupId}: bookmark {req.BookmarkId} recorded as crash-consistent: application consistency failed ({why})");
                break;
        }
        return new GroupBookmarkResult(req.GroupId, req.BookmarkId,
            state.Phase == GroupBookmarkPhase.Committed ? GroupBookmarkOutcome.Committed : GroupBookmarkOutcome.Aborted,
            state.Phase == GroupBookmarkPhase.Committed ? state.Kind : null,
            state.Phase == GroupBookmarkPhase.Committed ? state.AppConsistencyFailure : null,
            state.TimeUnixMs, state.Held, state.Phase == GroupBookmarkPhase.Committed ? state.Markers : new Dictionary<string, long>(),
            stall.Elapsed.TotalMilliseconds, agentHeld, state.AbortReason, state.AbortDetail, state.AbortRetryable);

        // Feeds answers to the state machine as they come, until it acts or leaves the phase.
        async Task<GroupBookmarkAction?> FeedAsync<T>(List<Task<T>> pending, Func<GroupBookmarkState, bool> phaseDone) where T : GroupBookmarkInput
        {
            while (pending.Count > 0)
            {
                var done = await Task.WhenAny(pending).ConfigureAwait(false);
                pending.Remove(done);
                (state, var a) = state.Step(await done.ConfigureAwait(false));
                if (a is not null) return a;
                if (phaseDone(state)) return null;
            }
            var (next, last) = state.Step(new PhaseTimedOut());
            state = next;
            return last;
        }
    }

    static bool IsPathFailure(string? error) => error is not null &&
        (error.StartsWith("no answer", StringComparison.Ordinal) || error.StartsWith("no process server", StringComparison.Ordinal)
         || error.StartsWith("no agent is connected", StringComparison.Ordinal) || error.StartsWith("agent did not answer", StringComparison.Ordinal)
         || error.StartsWith("process server connection failed", StringComparison.Ordinal));
}
