using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>Asks the directory for the machines of a new job; refused (Conflict, naming the machine and the job) when one is taken.</summary>
public sealed record OpenFailover(string JobId, string PlanId, FailoverKind Kind, IReadOnlyList<string> Machines, long AtUnixMs);

/// <summary>The job ended (cleaned up, or it could not start): its machines are free again.</summary>
public sealed record CloseFailover(string JobId);

/// <summary>
/// A closed job works on its machines again (a return asked after its failback freed them): claimed again, and woken
/// after a restart, unless another open job holds one of them meanwhile.
/// </summary>
public sealed record ReopenFailover(string JobId);

/// <summary>The job was committed: its machines stay failed over, and stay claimed, until a failback.</summary>
public sealed record MarkFailoverCommitted(string JobId);

public sealed record ListFailovers;

public sealed record FailoverEntry(string JobId, string PlanId, FailoverKind Kind, IReadOnlyList<string> Machines, long OpenedUnixMs, bool Open, bool Committed = false);

public sealed record FailoverList(IReadOnlyList<FailoverEntry> Jobs);

[Manifest("failover-opened.v1")]
public sealed record FailoverOpened(string JobId, string PlanId, FailoverKind Kind, IReadOnlyList<string> Machines, long AtUnixMs) : IControlEvent;

[Manifest("failover-marked-committed.v1")]
public sealed record FailoverMarkedCommitted(string JobId) : IControlEvent;

[Manifest("failover-closed.v1")]
public sealed record FailoverClosed(string JobId) : IControlEvent;

[Manifest("failover-reopened.v1")]
public sealed record FailoverReopened(string JobId) : IControlEvent;

/// <summary>
/// Pure state of the failover directory: every job, and which open job holds each machine. A machine is in at most one
/// open job, so a second failover of a machine that is already failing over (or in a drill) is refused with the job.
/// </summary>
[Manifest("failover-directory-state.v1")]
public sealed record FailoverDirectoryState(ImmutableSortedDictionary<string, FailoverEntry> Jobs) : IControlSnapshot
{
    public static FailoverDirectoryState Empty { get; } = new(ImmutableSortedDictionary.Create<string, FailoverEntry>(StringComparer.Ordinal));

    public IEnumerable<FailoverEntry> OpenJobs => Jobs.Values.Where(j => j.Open);

    public Decision<IControlEvent> Decide(OpenFailover c)
    {
        if (Jobs.ContainsKey(c.JobId)) return Decision<IControlEvent>.Reject(RejectionReason.Conflict, $"failover job '{c.JobId}' already exists");
        var taken = c.Machines
            .Select(m => (Machine: m, Job: OpenJobs.FirstOrDefault(j => j.Machines.Contains(m, StringComparer.Ordinal))))
            .FirstOrDefault(x => x.Job is not null);
        if (taken.Job is { Committed: true } done)
            return Decision<IControlEvent>.Reject(RejectionReason.Conflict,
                $"machine {taken.Machine} is failed over (committed {done.Kind.ToString().ToLowerInvariant()} failover job '{done.JobId}' of plan {done.PlanId}); reprotect and fail it back before another failover");
        if (taken.Job is { } job)
            return Decision<IControlEvent>.Reject(RejectionReason.Conflict,
                $"machine {taken.Machine} is already in {job.Kind.ToString().ToLowerInvariant()} failover job '{job.JobId}' of plan {job.PlanId}; {(job.Kind == FailoverKind.Test ? "clean it up" : "commit or roll it back")} first");
        return Decision<IControlEvent>.Accept(new FailoverOpened(c.JobId, c.PlanId, c.Kind, c.Machines, c.AtUnixMs));
    }

    public Decision<IControlEvent> Decide(CloseFailover c) =>
        Jobs.TryGetValue(c.JobId, out var j) && j.Open ? Decision<IControlEvent>.Accept(new FailoverClosed(c.JobId)) : Decision<IControlEvent>.NoOp;

    public Decision<IControlEvent> Decide(ReopenFailover c)
    {
        if (!Jobs.TryGetValue(c.JobId, out var j)) return Decision<IControlEvent>.Reject(RejectionReason.NotRegistered, $"failover job '{c.JobId}' does not exist");
        if (j.Open) return Decision<IControlEvent>.NoOp;
        var other = OpenJobs.FirstOrDefault(o => o.Machines.Any(m => j.Machines.Contains(m, StringComparer.Ordinal)));
        return other is null
            ? Decision<IControlEvent>.Accept(new FailoverReopened(c.JobId))
            : Decision<IControlEvent>.Reject(RejectionReason.Conflict, $"failover job '{other.JobId}' holds machines of '{c.JobId}' now");
    }

    public Decision<IControlEvent> Decide(MarkFailoverCommitted c) =>
        Jobs.TryGetValue(c.JobId, out var j) && j.Open && !j.Committed ? Decision<IControlEvent>.Accept(new FailoverMarkedCommitted(c.JobId)) : Decision<IControlEvent>.NoOp;

    public FailoverDirectoryState Apply(IControlEvent e) => e switch
    {
        FailoverMarkedCommitted m when Jobs.TryGetValue(m.JobId, out var j) => this with { Jobs = Jobs.SetItem(m.JobId, j with { Committed = true }) },
        FailoverOpened o => this with { Jobs = Jobs.SetItem(o.JobId, new FailoverEntry(o.JobId, o.PlanId, o.Kind, o.Machines, o.AtUnixMs, true)) },
        FailoverClosed c when Jobs.TryGetValue(c.JobId, out var j) => this with { Jobs = Jobs.SetItem(c.JobId, j with { Open = false }) },
        FailoverReopened r when Jobs.TryGetValue(r.JobId, out var j) => this with { Jobs = Jobs.SetItem(r.JobId, j with { Open = true }) },
        _ => this,
    };
}

/// <summary>
/// Persistent singleton (<c>failover-directory</c>): lists jobs, holds the machine claims, and after a restart wakes
/// every open job, so a saga whose node died resumes (or rolls back) without anyone asking.
/// </summary>
public sealed class FailoverDirectoryActor : ReceivePersistentActor, IWithTimers
{
    public ITimerScheduler Timers { get; set; } = null!;
    public const string SingletonPersistenceId = "failover-directory";
    FailoverDirectoryState _state = FailoverDirectoryState.Empty;
    readonly EntitySettings _settings;
    readonly Func<IActorRef?> _jobs;

    public FailoverDirectoryActor(EntitySettings settings, Func<IActorRef?> jobs)
    {
        _settings = settings;
        _jobs = jobs;
        Recover<SnapshotOffer>(o => { if (o.Snapshot is FailoverDirectoryState s) _state = s; });
        Recover<IControlEvent>(e => _state = _state.Apply(e));
        Recover<RecoveryCompleted>(_ => Self.Tell(Wake.Instance));
        Command<Wake>(_ =>
        {
            if (_jobs() is not { } region)
            {
                Timers.StartSingleTimer("wake", Wake.Instance, TimeSpan.FromMilliseconds(200));
                return;
            }
            // Committed jobs too: a reprotect or a failback in flight resumes.
            foreach (var job in _state.OpenJobs) region.Tell(new GetFailoverJob(job.JobId));
        });
        Command<OpenFailover>(c => Persist(c, _state.Decide(c)));
        Command<CloseFailover>(c => Persist(c, _state.Decide(c)));
        Command<MarkFailoverCommitted>(c => Persist(c, _state.Decide(c)));
        Command<ReopenFailover>(c => Persist(c, _state.Decide(c)));
        Command<ListFailovers>(_ => Sender.Tell(new FailoverList(_state.Jobs.Values.OrderByDescending(j => j.OpenedUnixMs).ToList())));
        Command<FailoverJobView>(_ => { });
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(_ => { });
    }

    void Persist(object command, Decision<IControlEvent> decision)
    {
        if (decision.Rejection is { } r) { Sender.Tell(r); return; }
        var replyTo = Sender;
        if (decision.Events.Count == 0) { replyTo.Tell(new CommandResult.Accepted(0)); return; }
        PersistAll(decision.Events, e =>
        {
            _state = _state.Apply(e);
            if (LastSequenceNr % _settings.SnapshotEvery == 0) SaveSnapshot(_state);
            replyTo.Tell(new CommandResult.Accepted(1));
        });
    }

    public override string PersistenceId => SingletonPersistenceId;

    public static Props Props(EntitySettings settings, Func<IActorRef?> jobs) => Akka.Actor.Props.Create(() => new FailoverDirectoryActor(settings, jobs));

    sealed class Wake
    {
        public static readonly Wake Instance = new();
    }
}

/// <summary>ActorRegistry key of the failover jobs' region.</summary>
public sealed class FailoverJobsRegion
{
    private FailoverJobsRegion() { }

    public static Props Props(IFailoverEffects effects, EntitySettings settings, IActorRef directory) =>
        EntityRegion.Props(typeof(IFailoverJobMessage), id => FailoverJobActor.Props(id, effects, settings, directory));
}

/// <summary>ActorRegistry key of the failover directory.</summary>
public sealed class FailoverDirectoryKey
{
    private FailoverDirectoryKey() { }
}
