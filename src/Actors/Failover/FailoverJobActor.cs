using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>
/// The failover saga of one job: a thin shell around <see cref="FailoverJobState"/>. It persists what was decided,
/// then asks the state what comes next and does it through <see cref="IFailoverEffects"/>; every effect's outcome
/// comes back as a command, so every step's start and end is in the journal. After a restart a step that was running
/// has lost what it made (exports and machines live in the node), so the job is interrupted and cleaned up, and says so;
/// a job that was only waiting for an operator, with nothing started yet, simply waits on.
/// </summary>
public sealed class FailoverJobActor : ReceivePersistentActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;
    readonly IFailoverEffects _effects;
    readonly EntitySettings _settings;
    readonly IActorRef? _directory;
    readonly ILoggingAdapter _log = Context.GetLogger();
    FailoverJobState _state;
    int? _beginSent;
    int? _inFlight;
    const int CleanupWork = -1;
    const int ReprotectWork = -2;
    const int FailbackWork = -3;
    const int ReturnWork = -5;
    const int CaptureWork = -6;
    CancellationTokenSource? _work;
    Task? _running;
    // When the armed timer ("ttl": a test failover's time-to-live or a planned one's commit policy) fires; null when none is.
    long? _timerAt;

    public FailoverJobActor(string jobId, IFailoverEffects effects, EntitySettings settings, IActorRef? directory)
    {
        PersistenceId = $"failover-job-{jobId}";
        _effects = effects;
        _settings = settings;
        _directory = directory;
        _state = FailoverJobState.Empty(jobId);

        Recover<SnapshotOffer>(o => { if (o.Snapshot is FailoverJobState s) _state = s; });
        Recover<IFailoverJobEvent>(e => _state = _state.Apply(e));
        Recover<RecoveryCompleted>(_ => AfterRecovery());

        Command<GetFailoverJob>(_ => Sender.Tell(_state.ToView()));
        Command<IFailoverJobCommand>(Handle);
        Command<WorkDone>(Done);
        Command<CommandResult>(_ => { });
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Snapshot of {0} failed", PersistenceId));
    }

    public override string PersistenceId { get; }

    public static Props Props(string jobId, IFailoverEffects effects, EntitySettings settings, IActorRef? directory) =>
        Akka.Actor.Props.Create(() => new FailoverJobActor(jobId, effects, settings, directory));

    void AfterRecovery()
    {
        if (_state.Status == FailoverJobStatus.NotStarted) return;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var running = _state.Current is { Plan.Kind: not FailoverStepKind.Manual } c ? c : null;
        // A test failover's machines boot from exports, which lived in the node that died. A planned or unplanned
        // failover's machines run from images of their own and outlive the node: only a step in flight is lost.
        var live = _state.Kind == FailoverKind.Test && _state.Started.Count > 0 && _state.Status is not (FailoverJobStatus.CleaningUp or FailoverJobStatus.CleanedUp);
        if (running is not null || live)
        {
            var what = running is not null ? $"step {running.Plan.Index} '{running.Plan.Name}' was running" : $"{_state.Started.Count} machine(s) were running";
            Self.Tell(new InterruptFailover(_state.JobId, running?.Plan.Index,
                $"the node restarted while {what}; the exports and machines it had made went with it, so the job is rolled back (run the failover again)", now));
            return;
        }
        Drive();
    }

    void Handle(IFailoverJobCommand command)
    {
        var decision = _state.Decide(command);
        if (decision.Rejection is { } rejected)
        {
            if (Sender.IsNobody() || Sender.Equals(Self)) _log.Warning("{0} refused {1}: {2}", PersistenceId, command.GetType().Name, rejected.Message);
            else Sender.Tell(rejected);
            return;
        }
        var replyTo = Sender;
        if (decision.Events.Count == 0)
        {
            replyTo.Tell(new CommandResult.Accepted(0));
            return;
        }
        var remaining = decision.Events.Count;
        PersistAll(decision.Events, e =>
        {
            _state = _state.Apply(e);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(_state);
            if (e is FailoverCleanupStarted) CancelWork();
            if (e is FailoverCleanedUp or FailoverFailedBack or FailoverReturned or FailoverReturnFailed && _state.ReleasesMachines) _directory?.Tell(new CloseFailover(_state.JobId));
            if (e is FailoverCommitted or FailoverCommittedWithCapture) _directory?.Tell(new MarkFailoverCommitted(_state.JobId));
            // A return asked after the failback freed the machines claims them again (a no-op while they are claimed).
            if (e is FailoverReturnStarted) _directory?.Tell(new ReopenFailover(_state.JobId));
            if (--remaining > 0) return;
            replyTo.Tell(new CommandResult.Accepted(decision.Events.Count));
            Drive();
        });
    }

    void Drive()
    {
        var next = _state.Next();
        // The job left the state its timer was for (committed, cleaned up, its point changed): that deadline is gone.
        if (_timerAt is not null && next is not (FailoverNext.CleanupAt or FailoverNext.RollbackAt))
        {
            Timers.Cancel("ttl");
            _timerAt = null;
        }
        switch (next)
        {
            case FailoverNext.Begin b when _beginSent != b.Index:
                _beginSent = b.Index;
                Self.Tell(new BeginFailoverStep(_state.JobId, b.Index, Now()));
                break;
            case FailoverNext.Execute x when _inFlight != x.Step.Index:
                _beginSent = null;
                Launch(x.Step.Index, ct => Execute(x.Step, ct));
                break;
            case FailoverNext.CleanupAt at when _timerAt != at.AtUnixMs:
                Arm(at.AtUnixMs, new CleanupFailover(_state.JobId, $"time-to-live of {_state.TtlSeconds} s passed without a cleanup", at.AtUnixMs));
                break;
            // The same rollback an operator asks for: FailoverCleanupStarted "rollback: …", then the cleanup resumes the source.
            case FailoverNext.RollbackAt at when _timerAt != at.AtUnixMs:
                Arm(at.AtUnixMs, new RollbackFailover(_state.JobId, $"not committed within {_state.AutoRollbackSeconds} s (commit policy)", at.AtUnixMs));
                break;
            case FailoverNext.Reprotect r when _inFlight != ReprotectWork:
                Launch(ReprotectWork, async ct =>
                {
                    var (machines, started, boots) = await _effects.ReprotectAsync(_state.JobId, _state.Started, _state.CaptureAgents, r.Target, ct).ConfigureAwait(false);
                    return new RecordReprotected(_state.JobId, machines, started, boots, Now());
                });
                break;
            // A node stopped or killed mid-capture finds the capture still owed in its journal and repeats it (adopting the agents).
            case FailoverNext.Capture when _inFlight != CaptureWork:
                Launch(CaptureWork, async ct =>
                    new RecordCommitCaptured(_state.JobId, await _effects.CaptureAsync(_state.JobId, _state.Started, ct).ConfigureAwait(false), Now()));
                break;
            case FailoverNext.Failback when _inFlight != FailbackWork:
                Launch(FailbackWork, async ct =>
                    new RecordFailedBack(_state.JobId, await _effects.FailbackAsync(_state.JobId, _state.ReverseMachines, _state.Started, _state.Reverse!, ct).ConfigureAwait(false), Now()));
                break;
            case FailoverNext.Return when _inFlight != ReturnWork:
                Launch(ReturnWork, async ct =>
                    new RecordReturned(_state.JobId, await _effects.ReturnAsync(_state.JobId, _state.ReverseMachines, _state.Reverse!, ct).ConfigureAwait(false), Now()));
                break;
            case FailoverNext.Cleanup when _inFlight != CleanupWork:
                Timers.Cancel("ttl");
                var previous = _running;
                Launch(CleanupWork, async ct =>
                {
                    // A step stopped by the cleanup may still be starting a machine: let it end first, so nothing is made after the removal.
                    if (previous is not null) await previous.ContinueWith(_ => { }, CancellationToken.None).ConfigureAwait(false);
                    var removed = (await _effects.RemoveAsync(_state.JobId, _state.Machines, _state.Started, ct).ConfigureAwait(false)).ToList();
                    // A planned failover that is undone gives the source its writes back.
                    if (_state.Kind == FailoverKind.Planned)
                        removed.Add(await _effects.ResumeSourceAsync(_state.JobId, _state.Machines, ct).ConfigureAwait(false));
                    return new CompleteFailoverCleanup(_state.JobId, Now(), removed);
                });
                break;
        }
    }

    /// <summary>One timer per job: a new deadline (a change of point completed again) replaces the one before, whose message is then never delivered.</summary>
    void Arm(long atUnixMs, IFailoverJobCommand command)
    {
        _timerAt = atUnixMs;
        Timers.StartSingleTimer("ttl", command, TimeSpan.FromMilliseconds(Math.Max(0, atUnixMs - Now())));
    }

    void Launch(int work, Func<CancellationToken, Task<IFailoverJobCommand>> run)
    {
        _inFlight = work;
        _work = new CancellationTokenSource();
        var ct = _work.Token;
        var jobId = _state.JobId;
        var task = Task.Run(async () =>
        {
            try { return new WorkDone(work, await run(ct).ConfigureAwait(false), null); }
            catch (Exception e) when (work != CleanupWork)
            {
                var error = e is OperationCanceledException && ct.IsCancellationRequested ? "cancelled" : e.Message;
                IFailoverJobCommand failed = work switch
                {
                    ReprotectWork => new FailReprotect(jobId, error, Now()),
                    CaptureWork => new FailCommitCapture(jobId, error, Now()),
                    FailbackWork => new FailFailback(jobId, error, Now()),
                    ReturnWork => new FailReturn(jobId, error, Now()),
                    _ => new FailFailoverStep(jobId, work, Now(), error),
                };
                return new WorkDone(work, failed, null);
            }
            catch (Exception e)
            {
                // A cleanup that failed is tried again after a pause; what it could not remove is named each time.
                await Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
                return new WorkDone(work, null, e.Message);
            }
        }, CancellationToken.None);
        _running = task;
        task.PipeTo(Self);
    }

    void Done(WorkDone d)
    {
        if (_inFlight == d.Work)
        {
            _inFlight = null;
            _work?.Dispose();
            _work = null;
        }
        if (d.Result is { } command) Self.Tell(command);
        else
        {
            _log.Warning("{0}: cleanup failed, trying again: {1}", PersistenceId, d.CleanupError);
            Drive();
        }
    }

    void CancelWork()
    {
        if (_inFlight is not null and not CleanupWork) _work?.Cancel();
    }

    async Task<IFailoverJobCommand> Execute(FailoverStepPlan step, CancellationToken ct)
    {
        var jobId = _state.JobId;
        switch (step.Kind)
        {
            case FailoverStepKind.StopSource:
                var stopped = await _effects.StopSourceAsync(jobId, step.Machines, _state.Point!.Bookmark!, ct).ConfigureAwait(false);
                return new CompleteFailoverStep(jobId, step.Index, Now(), stopped);
            case FailoverStepKind.ResolvePoint:
                var points = await _effects.ResolvePointsAsync(step.Machines, _state.Point!, ct).ConfigureAwait(false);
                return new RecordFailoverPoints(jobId, step.Index, points, Now());
            case FailoverStepKind.Script:
                var output = await _effects.RunScriptAsync(jobId, step.Script!, TimeSpan.FromSeconds(step.TimeoutSeconds ?? 300), ct).ConfigureAwait(false);
                return new CompleteFailoverStep(jobId, step.Index, Now(), output);
            case FailoverStepKind.StartGroup:
                var mine = _state.Points.Where(p => step.Machines.Contains(p.MachineId)).ToList();
                var missing = step.Machines.Except(mine.Select(p => p.MachineId)).ToList();
                if (missing.Count > 0) throw new InvalidOperationException($"no resolved point for {string.Join(", ", missing)}");
                var (machines, boots) = await _effects.StartGroupAsync(jobId, _state.Kind, mine, ct).ConfigureAwait(false);
                return new RecordMachinesStarted(jobId, step.Index, machines, boots);
            case FailoverStepKind.DrillReport:
                return new RecordDrillReport(jobId, step.Index, await DrillAsync(ct).ConfigureAwait(false));
            default:
                throw new InvalidOperationException($"step kind {step.Kind} has no work of its own");
        }
    }

    async Task<DrillReport> DrillAsync(CancellationToken ct)
    {
        var s = _state;
        // The machines' checksums read every disk twice; they are taken side by side (a drill of many machines spent
        // most of its time here, one machine after another: see docs/performance.md, session 8).
        var sumsByMachine = new System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<DiskChecksum>>();
        await Parallel.ForEachAsync(s.Started.Where(m => s.Points.Any(p => p.MachineId == m.MachineId)),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
            async (m, token) => sumsByMachine[m.MachineId] = await _effects.ChecksumsAsync(m, token).ConfigureAwait(false)).ConfigureAwait(false);
        // What the guests' own packets reached (see DrillIsolation), read once every guest has reported its probes.
        var probes = _effects is IDrillProbes drillProbes ? await drillProbes.ReadProbesAsync(s.Started, ct).ConfigureAwait(false) : null;
        var machines = new List<MachineDrill>();
        foreach (var point in s.Points)
        {
            var started = s.Started.FirstOrDefault(m => m.MachineId == point.MachineId);
            var boot = s.Boots.FirstOrDefault(b => b.MachineId == point.MachineId);
            var rpo = Math.Max(0, s.RequestedUnixMs - point.PointTimeUnixMs);
            if (started is null || boot is null)
            {
                machines.Add(new MachineDrill(point.MachineId, point.PointName, point.PointTimeUnixMs, rpo, null, "-", null, [], false,
                    "not started (its boot group was skipped or failed)"));
                continue;
            }
            var sums = sumsByMachine[point.MachineId];
            var isolation = DrillIsolation.Judge(point.MachineId, s.Started, s.Boots, probes);
            var failure = !boot.Booted ? $"did not boot: {boot.Failure}"
                : sums.FirstOrDefault(d => !d.Agree) is { } bad ? $"disk {bad.DiskId}: the booted image ({bad.BootedSha256[..16]}…) and the replay ({bad.ReplaySha256[..16]}…) differ"
                // A guest that prints a check and checked nothing (no disk in time, an unreadable header) has not verified anything.
                : boot.GuestCheck is { } g && !g.Contains(" OK", StringComparison.Ordinal) ? $"the guest's own check did not pass: {g}"
                : isolation.Failure;
            machines.Add(new MachineDrill(point.MachineId, point.PointName, point.PointTimeUnixMs, rpo, boot.Booted ? boot.AtUnixMs - s.RequestedUnixMs : null,
                started.Accelerator, boot.GuestCheck, sums, failure is null, failure)
                // "SR-NET " with its space: the guest's network line, not its later SR-NET-PROBE lines.
                { GuestNetwork = boot.ConsoleTail.LastOrDefault(l => l.Contains("SR-NET ", StringComparison.Ordinal))?.Trim(), Isolation = isolation });
        }
        var now = Now();
        var passed = machines.Count > 0 && machines.All(m => m.Passed);
        // The drill step itself is still running while its report is written: its duration so far.
        var steps = s.Steps.Select(x => new StepSummary(x.Plan.Index, x.Plan.Name, x.Plan.Kind, x.State,
            (x.EndedUnixMs ?? (x.State == FailoverStepState.Running ? now : null)) - x.StartedUnixMs, x.Error ?? x.Output)).ToList();
        var rto = machines.Any(m => m.RtoMs is null) ? (long?)null : machines.Select(m => m.RtoMs!.Value).DefaultIfEmpty(0).Max();
        return new DrillReport(s.JobId, s.PlanId!, s.Point!.ToString(), s.RequestedUnixMs, now, rto, machines, steps, passed,
            passed ? null : string.Join("; ", machines.Where(m => !m.Passed).Select(m => $"{m.MachineId}: {m.Failure}")));
    }

    static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    protected override void PostStop()
    {
        _work?.Cancel();
        base.PostStop();
    }

    /// <summary>An effect ended: the command it produced, or the error of a cleanup that will be tried again.</summary>
    sealed record WorkDone(int Work, IFailoverJobCommand? Result, string? CleanupError);
}
