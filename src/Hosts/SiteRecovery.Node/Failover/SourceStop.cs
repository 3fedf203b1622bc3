using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Node.Failover;

/// <summary>One disk the source stop could not vouch for: which, why (a value), and the details.</summary>
public sealed record SourceStopError(string DiskId, FailoverStopFailure Reason, string Detail)
{
    public override string ToString() => $"disk {DiskId}: {Reason}: {Detail}";
}

/// <summary>
/// Per disk, the last sequence of the stopped source, durable at this master target (recover there for zero data loss);
/// or, per disk, why not. <see cref="Ok"/> only when every disk asked for has its sequence. <see cref="Quiesced"/>: for a
/// quiescing stop, per agent (named by its disks), what its freeze hooks, shutdown command, NBD-client wait and thaw did.
/// </summary>
public sealed record SourceStopResult(IReadOnlyDictionary<string, long> LastSequences, IReadOnlyList<SourceStopError> Errors, IReadOnlyList<string>? Quiesced = null)
{
    public bool Ok => Errors.Count == 0;
}

/// <summary>The source's disks take writes again; <see cref="WereNotStopped"/>: disks that were writable already (the agent restarted since the stop).</summary>
public sealed record SourceResumeResult(IReadOnlyList<string> WereNotStopped, IReadOnlyList<SourceStopError> Errors)
{
    public bool Ok => Errors.Count == 0;
}

/// <summary>
/// The node's side of "stop the source" in a planned failover. <see cref="StopAsync"/> asks each agent owning some of the
/// disks (one <see cref="StopForFailover"/> per agent, through its process server) to make the exports read-only and drain,
/// asks again while the agent says it is still draining, and then waits until this master target holds every reported
/// sequence durably. Afterwards no write the source acknowledged is missing here: a recovery at the returned sequences
/// loses nothing. The agents answer the same when asked again, so a failover step that is retried calls this again.
/// With <c>quiesce</c> (a planned failover) each agent first freezes its hooks, runs its shutdown command (or waits for a
/// bare export's NBD clients, at most <see cref="ClientsWait"/>), and thaws after the drain; it answers
/// <see cref="FailoverStopFailure.QuiesceRunning"/> while that goes on, and is asked again like a drain.
/// <see cref="ResumeAsync"/> rolls a stop back.
/// </summary>
public sealed class SourceStop(MasterTargetServer target, Action<string>? log = null)
{
    /// <summary>The longest one ask lets the agent wait for its drain (it caps this itself below the process server's limit).</summary>
    static readonly TimeSpan MaxAgentWait = TimeSpan.FromSeconds(20);
    /// <summary>What the answer may take beyond the agent's own wait (the hops).</summary>
    static readonly TimeSpan HopAllowance = TimeSpan.FromSeconds(5);
    /// <summary>How long a quiescing agent waits for the NBD clients of its disks to disconnect before it stops them anyway.</summary>
    public static readonly TimeSpan ClientsWait = TimeSpan.FromSeconds(30);
    /// <summary>
    /// How long a disk whose agent is not connected is waited for before it counts as out of reach: right after a node
    /// or process server restart every agent is reconnecting (its backoff tops out at 5 s), and a failover or rollback
    /// started then must not fail, or leave the source read-only, for that alone.
    /// </summary>
    public static readonly TimeSpan AgentReconnectWait = TimeSpan.FromSeconds(30);

    public async Task<SourceStopResult> StopAsync(IReadOnlyList<string> disks, TimeSpan timeout, CancellationToken ct, bool quiesce = false)
    {
        var deadline = DateTime.UtcNow + timeout;
        var reconnectUntil = DateTime.UtcNow + Min(AgentReconnectWait, timeout);
        var (groups, errors) = await ConnectedAsync(disks, reconnectUntil, ct).ConfigureAwait(false);
        // All or nothing as far as this node can tell: with a disk out of reach no agent is asked, so nothing is stopped.
        if (errors.Count > 0)
        {
            foreach (var e in errors) log?.Invoke($"source stop: {e}; nothing was stopped");
            return new SourceStopResult(new Dictionary<string, long>(), errors);
        }
        var answers = await Task.WhenAll(groups.Select(g => StopAgentAsync(g, deadline, reconnectUntil, quiesce, ct))).ConfigureAwait(false);
        var last = new Dictionary<string, long>();
        var quiesced = new List<string>();
        foreach (var ((sequences, failed, how), group) in answers.Zip(groups))
        {
            foreach (var (d, s) in sequences) last[d] = s;
            errors.AddRange(failed);
            // An older agent ignores Quiesce and answers no text: it stopped at once, without hooks or shutdown.
            if (quiesce) quiesced.Add($"{string.Join(", ", group)}: {how ?? "not quiesced (the agent does not support it: stopped at once)"}");
        }
        foreach (var q in quiesced) log?.Invoke($"source stop: quiesce of {q}");
        // The agent's process server holds these; the master target must hold them too before they count.
        foreach (var (disk, sequence) in last.ToList())
        {
            var durable = await DurableAtAsync(disk, sequence, deadline, ct).ConfigureAwait(false);
            if (durable >= sequence) continue;
            last.Remove(disk);
            errors.Add(new SourceStopError(disk, FailoverStopFailure.TargetBehind,
                $"the agent stopped after #{sequence} but this master target holds only #{durable} durably after {timeout.TotalSeconds:0.#} s"));
        }
        foreach (var e in errors) log?.Invoke($"source stop: {e}");
        return new SourceStopResult(last, errors, quiesce ? quiesced : null);
    }

    public async Task<SourceResumeResult> ResumeAsync(IReadOnlyList<string> disks, TimeSpan timeout, CancellationToken ct)
    {
        var reconnectUntil = DateTime.UtcNow + Min(AgentReconnectWait, timeout);
        var (groups, errors) = await ConnectedAsync(disks, reconnectUntil, ct).ConfigureAwait(false);
        var replies = await Task.WhenAll(groups.Select(g => ResumeAgentAsync(g, timeout, reconnectUntil, ct))).ConfigureAwait(false);
        var notStopped = new List<string>();
        foreach (var (group, reply) in groups.Zip(replies))
        {
            if (reply is ResumedAfterFailover { Error: null } ok) { notStopped.AddRange(ok.WereNotStopped); continue; }
            var (reason, detail) = reply is ResumedAfterFailover r ? (r.Failure ?? FailoverStopFailure.NotReached, r.Error!) : (FailoverStopFailure.NotReached, $"unexpected answer {reply.GetType().Name}");
            errors.AddRange(group.Select(d => new SourceStopError(d, reason, detail)));
        }
        foreach (var d in notStopped) log?.Invoke($"source resume: disk {d} was not stopped (its agent restarted since the stop?); it was writable already");
        return new SourceResumeResult(notStopped, errors);
    }

    /// <summary>Asks the agent of <paramref name="disks"/> to take writes again, again while it is not reachable yet (it may be reconnecting) until <paramref name="reconnectUntil"/>.</summary>
    async Task<ControlMessage> ResumeAgentAsync(List<string> disks, TimeSpan timeout, DateTime reconnectUntil, CancellationToken ct)
    {
        while (true)
        {
            var reply = await target.AskAgentAsync(new ResumeAfterFailover(Guid.NewGuid().ToString("n"), disks), timeout, ct).ConfigureAwait(false);
            if (reply is not ResumedAfterFailover { Failure: FailoverStopFailure.NotReached } || DateTime.UtcNow >= reconnectUntil) return reply;
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    /// <summary><see cref="ByAgent"/> once every disk's agent is connected, or once <paramref name="until"/> (the reconnect window) has passed.</summary>
    async Task<(List<List<string>> Groups, List<SourceStopError> Errors)> ConnectedAsync(IReadOnlyList<string> disks, DateTime until, CancellationToken ct)
    {
        var (groups, errors) = ByAgent(disks);
        if (errors.Count > 0) log?.Invoke($"source: waiting up to {Max(until - DateTime.UtcNow, TimeSpan.Zero).TotalSeconds:0} s for the agents of {string.Join(", ", errors.Select(e => e.DiskId))} to connect");
        while (errors.Count > 0 && DateTime.UtcNow < until)
        {
            await Task.Delay(100, ct).ConfigureAwait(false);
            (groups, errors) = ByAgent(disks);
        }
        return (groups, errors);
    }

    /// <summary>The disks grouped by the agent that owns them (an agent's request may not span agents); disks with no connected agent are errors.</summary>
    (List<List<string>> Groups, List<SourceStopError> Errors) ByAgent(IReadOnlyList<string> disks)
    {
        var owner = target.DisksByMachine.SelectMany(m => m.Value.Select(d => (Disk: d, Machine: m.Key))).ToDictionary(x => x.Disk, x => x.Machine);
        var wanted = disks.Distinct().ToList();
        var errors = wanted.Where(d => !owner.ContainsKey(d))
            .Select(d => new SourceStopError(d, FailoverStopFailure.NotReached, "no agent is connected for this disk (agent not connected, or the disk is unknown here)")).ToList();
        var groups = wanted.Where(owner.ContainsKey).GroupBy(d => owner[d]).Select(g => g.ToList()).ToList();
        return (groups, errors);
    }

    async Task<(IReadOnlyDictionary<string, long> Sequences, IReadOnlyList<SourceStopError> Errors, string? Quiesced)> StopAgentAsync(
        List<string> disks, DateTime deadline, DateTime reconnectUntil, bool quiesce, CancellationToken ct)
    {
        string? how = null;
        while (true)
        {
            var remaining = deadline - DateTime.UtcNow;
            var agentWait = Min(MaxAgentWait, remaining - HopAllowance);
            if (agentWait < TimeSpan.Zero) agentWait = TimeSpan.Zero;
            var ask = Max(remaining, TimeSpan.FromSeconds(1));
            var request = new StopForFailover(Guid.NewGuid().ToString("n"), disks, (int)agentWait.TotalMilliseconds, quiesce,
                (int)ClientsWait.TotalMilliseconds);
            var reply = await target.AskAgentAsync(request, ask, ct).ConfigureAwait(false);
            if (reply is StoppedForFailover { Quiesce: { } text }) how = text;
            if (reply is StoppedForFailover { Error: null } ok)
            {
                var missing = disks.Where(d => !ok.LastSequences.ContainsKey(d)).ToList();
                return (ok.LastSequences, missing.Select(d => new SourceStopError(d, FailoverStopFailure.NotReached, "the agent's answer has no sequence for this disk")).ToList(), how);
            }
            if (reply is not StoppedForFailover failed)
                return (new Dictionary<string, long>(), disks.Select(d => new SourceStopError(d, FailoverStopFailure.NotReached, $"unexpected answer {reply.GetType().Name}")).ToList(), how);
            // Not reachable yet: its process server knows the disks but the agent is reconnecting (a restart just now).
            // Nothing was stopped, and a stop asked again is answered the same, so it is asked again for a while.
            if (failed.Failure is FailoverStopFailure.NotReached && DateTime.UtcNow < reconnectUntil && DateTime.UtcNow + TimeSpan.FromMilliseconds(200) < deadline)
            {
                await Task.Delay(200, ct).ConfigureAwait(false);
                continue;
            }
            // Still draining (or still quiescing): the agent goes on by itself, so asking again goes on waiting.
            if (failed.Failure is FailoverStopFailure.DrainTimeout or FailoverStopFailure.QuiesceRunning && DateTime.UtcNow + TimeSpan.FromMilliseconds(200) < deadline)
            {
                await Task.Delay(100, ct).ConfigureAwait(false);
                continue;
            }
            return (new Dictionary<string, long>(), disks.Select(d => new SourceStopError(d, failed.Failure ?? FailoverStopFailure.NotReached, failed.Error!)).ToList(), how);
        }
    }

    async Task<long> DurableAtAsync(string disk, long sequence, DateTime deadline, CancellationToken ct)
    {
        var replica = await target.GetDiskAsync(disk).ConfigureAwait(false);
        while (replica.DurableThrough < sequence && DateTime.UtcNow < deadline)
            await Task.Delay(10, ct).ConfigureAwait(false);
        return replica.DurableThrough;
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
