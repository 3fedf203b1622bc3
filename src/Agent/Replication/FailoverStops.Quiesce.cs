using System.Diagnostics;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// What a quiescing stop can use on this agent: the application freezer (null or not configured: no hooks), the machine's
/// shutdown, <c>--shutdown-command</c> or <c>--shutdown-qmp</c> (null: a bare export, whose clients finish on their own), the
/// hook timeout (each hook phase and the shutdown), and the count of NBD clients connected to an export (null: not observable, counted as none).
/// </summary>
public sealed record QuiesceSetup(ApplicationFreezer? Freezer, IMachineShutdown? Shutdown, TimeSpan HookTimeout, Func<string, int>? ClientsOf);

/// <summary>
/// The quiescing stop of a planned failover. Order, and why:
/// <list type="number">
/// <item>refuse a resyncing disk before anything runs (nothing is frozen for a stop that could not be clean);</item>
/// <item>freeze the hooks in order (applications flush and hold): a failure thaws every hook attempted and answers
///   <see cref="FailoverStopFailure.FreezeFailed"/>, nothing read-only;</item>
/// <item>shut the machine down (<see cref="IMachineShutdown"/>: the operator's script, or qemu's power button over QMP): a
///   failure thaws and answers <see cref="FailoverStopFailure.ShutdownFailed"/>, nothing read-only;</item>
/// <item>wait, at most <see cref="StopForFailover.ClientsWaitMs"/>, until no NBD client is connected to the disks (the machine
///   went down, or a bare export's clients finished); past it go on and say how many were still connected. This wait is a
///   courtesy: the read-only switch below is what guarantees that every acknowledged write is in the stream;</item>
/// <item>read-only and drain, exactly as a plain stop;</item>
/// <item>thaw in reverse after the drain (the disks no longer change, so the thaw cannot move the drained sequences); a
///   thaw failure is reported in the text but does not fail a stop that drained.</item>
/// </list>
/// The sequence runs once per agent in the background; an answer leaves after at most the request's wait (below the process
/// server's routing limit) as <see cref="FailoverStopFailure.QuiesceRunning"/>, and the node's next ask for the same disks
/// joins the same run. Once the disks are stopped, asking again answers as a plain stop does, with the same text.
/// </summary>
public sealed partial class FailoverStops
{
    /// <summary>The longest a stop waits for NBD clients to disconnect, whatever the request says.</summary>
    public static readonly TimeSpan MaxClientsWait = TimeSpan.FromMinutes(5);

    // Under _gate: the quiescing run in progress (one per agent) and its disks; per stopped disk, what its quiesce did.
    Task<StoppedForFailover>? _quiescing;
    string? _quiescingKey;
    string _quiescePhase = "";
    readonly Dictionary<string, string> _quiescedHow = new();

    async Task<StoppedForFailover> QuiescedStopAsync(StopForFailover req, CancellationToken ct)
    {
        var key = string.Join(",", req.DiskIds.Distinct().Order(StringComparer.Ordinal));
        Task<StoppedForFailover>? run = null;
        string? stoppedHow = null;
        lock (_gate)
        {
            if (_quiescing is { IsCompleted: false } running)
            {
                if (_quiescingKey != key)
                    return new StoppedForFailover(req.RequestId, new Dictionary<string, long>(),
                        $"a quiescing stop of {_quiescingKey} is {_quiescePhase}; ask again when it has ended", FailoverStopFailure.QuiesceRunning);
                run = running;
            }
            else if (Targets(req.DiskIds).All(t => t.ReadOnly))
                stoppedHow = string.Join("; ", req.DiskIds.Distinct().Select(d => _quiescedHow.GetValueOrDefault(d)).OfType<string>().Distinct());
            else
            {
                _quiescingKey = key;
                _quiescePhase = "starting";
                // Not the request's token: the sequence must reach its thaw even when the asker's connection drops.
                run = _quiescing = Task.Run(() => QuiesceAsync(req, CancellationToken.None));
            }
        }
        // Stopped already (by this sequence or an earlier stop): carry on as a plain stop, with what the quiesce did.
        if (stoppedHow is not null)
            return (await StopNowAsync(req, ct).ConfigureAwait(false)) with
            {
                Quiesce = stoppedHow.Length > 0 ? stoppedHow : "the disks were stopped already, without a quiesce; not quiesced again",
            };
        var wait = TimeSpan.FromMilliseconds(Math.Clamp(req.WaitMs, 0, (int)MaxWait.TotalMilliseconds));
        try { await run!.WaitAsync(wait, ct).ConfigureAwait(false); }
        catch (TimeoutException)
        {
            string phase;
            lock (_gate) phase = _quiescePhase;
            return new StoppedForFailover(req.RequestId, new Dictionary<string, long>(),
                $"the quiescing stop of {key} is {phase} after this answer's {wait.TotalMilliseconds:0} ms; it goes on: ask again to keep waiting",
                FailoverStopFailure.QuiesceRunning);
        }
        return (await run.ConfigureAwait(false)) with { RequestId = req.RequestId };
    }

    void Phase(string phase)
    {
        lock (_gate) _quiescePhase = phase;
    }

    async Task<StoppedForFailover> QuiesceAsync(StopForFailover req, CancellationToken ct)
    {
        var none = new Dictionary<string, long>();
        var targets = Targets(req.DiskIds);
        var names = string.Join(", ", targets.Select(t => t.Name));
        foreach (var t in targets) await t.WriteLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var resyncing = targets.Where(t => !t.ReadOnly && t.ScanRunning).Select(t => t.NotCrashConsistent()).ToList();
            if (resyncing.Count > 0)
                return new StoppedForFailover(req.RequestId, none,
                    $"{string.Join("; ", resyncing)}: cannot stop cleanly; nothing was frozen or stopped, ask again when the resync completes", FailoverStopFailure.Resyncing);
        }
        finally
        {
            foreach (var t in targets) t.WriteLock.Release();
        }

        var steps = new List<string>();
        var freezer = quiesce?.Freezer is { Configured: true } f ? f : null;
        var timeout = quiesce?.HookTimeout ?? FreezeOptions.DefaultHookTimeout;
        var clock = Stopwatch.StartNew();

        // (a) freeze
        if (freezer is not null)
        {
            Phase("running the freeze hooks");
            var hooks = string.Join(", ", freezer.Hooks.Select(h => h.Name));
            var frozen = await freezer.FreezeAsync(ct).ConfigureAwait(false);
            if (!frozen.Succeeded)
            {
                var thaw = await freezer.ThawAsync(CancellationToken.None).ConfigureAwait(false);
                log($"planned failover of {names}: freeze failed ({frozen.Outcome}): nothing was made read-only; thaw {thaw.Outcome}");
                return new StoppedForFailover(req.RequestId, none,
                    $"freeze {frozen.Outcome}: {frozen.Detail}; thaw {Outcome(thaw)}; nothing was made read-only", FailoverStopFailure.FreezeFailed,
                    $"freeze {frozen.Outcome}; thaw {Outcome(thaw)}");
            }
            steps.Add($"froze {hooks} in {clock.ElapsedMilliseconds} ms");
        }
        else steps.Add("no freeze hooks");

        // (b) shutdown; the clients are counted first, so a machine whose shutdown dropped them at once is still told apart
        // from one that had none.
        var connectedBefore = quiesce?.ClientsOf is { } count ? targets.Sum(t => count(t.Name)) : 0;
        var since = Stopwatch.StartNew();
        if (quiesce?.Shutdown is { } shutdown)
        {
            Phase($"running {shutdown.Name}");
            var down = await shutdown.ShutDownAsync(timeout, ct).ConfigureAwait(false);
            if (!down.Succeeded)
            {
                var thaw = freezer is null ? HookResult.Success : await freezer.ThawAsync(CancellationToken.None).ConfigureAwait(false);
                log($"planned failover of {names}: {shutdown.Name}: {down.Outcome}: nothing was made read-only; thaw {thaw.Outcome}");
                return new StoppedForFailover(req.RequestId, none,
                    $"{down.Detail}; the machine may be partly shut down; thaw {Outcome(thaw)}; nothing was made read-only", FailoverStopFailure.ShutdownFailed,
                    string.Join("; ", steps.Append($"shutdown {down.Outcome}").Append($"thaw {Outcome(thaw)}")));
            }
            steps.Add($"{shutdown.Kind} {down.Detail}");
            log($"planned failover of {names}: {shutdown.Name}: {down.Detail}");
        }

        // The wait for the NBD clients: the machine going down, or a bare export's clients finishing.
        Phase("waiting for the NBD clients to disconnect");
        var clients = await ClientsWaitAsync(targets, TimeSpan.FromMilliseconds(Math.Clamp(req.ClientsWaitMs, 0, (int)MaxClientsWait.TotalMilliseconds)),
            connectedBefore, since, ct).ConfigureAwait(false);
        steps.Add(clients);
        log($"planned failover of {names}: {clients}");

        // (c) read-only and drain
        Phase("draining");
        var stopped = await StopNowAsync(req, ct).ConfigureAwait(false);

        // (d) thaw
        if (freezer is not null)
        {
            Phase("thawing");
            var thaw = await freezer.ThawAsync(CancellationToken.None).ConfigureAwait(false);
            steps.Add(stopped.Failure is null ? $"thaw {Outcome(thaw)} after the drain" : $"thaw {Outcome(thaw)}");
        }
        var text = string.Join("; ", steps);
        log($"planned failover of {names}: quiesce: {text}");
        // Kept while the disks stay stopped, so a later ask (a drain still running, a retried step) says the same.
        lock (_gate)
            foreach (var t in targets.Where(t => t.ReadOnly))
                _quiescedHow[t.Name] = text;
        return stopped with { Quiesce = text };
    }

    /// <summary>
    /// Waits until no NBD client uses the disks, at most <paramref name="wait"/> from now. <paramref name="before"/>: the clients
    /// counted before the shutdown, <paramref name="since"/> running from then (the text's time).
    /// </summary>
    async Task<string> ClientsWaitAsync(List<ReplicatedExport> targets, TimeSpan wait, int before, Stopwatch since, CancellationToken ct)
    {
        if (quiesce?.ClientsOf is not { } clientsOf) return "NBD clients not observed (no NBD server given)";
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var connected = targets.Select(t => (t.Name, Count: clientsOf(t.Name))).Where(x => x.Count > 0).ToList();
            if (connected.Count == 0)
                return before == 0 ? "no NBD client was connected" : $"{before} NBD client(s) disconnected within {since.ElapsedMilliseconds} ms";
            if (clock.Elapsed >= wait)
                return $"{connected.Sum(x => x.Count)} NBD client(s) still connected after {wait.TotalMilliseconds:0} ms " +
                       $"({string.Join(", ", connected.Select(x => $"{x.Name}: {x.Count}"))}); made read-only anyway: their later writes get EPERM";
            await Task.Delay(25, ct).ConfigureAwait(false);
        }
    }

    static string Outcome(HookResult r) => r.Succeeded ? "ok" : $"{r.Outcome}: {r.Detail}";
}
