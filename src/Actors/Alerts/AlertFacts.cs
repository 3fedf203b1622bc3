using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Alerts;

/// <summary>A registered protected disk: its machine, when it was registered, and the time (and bookmark) of its newest recovery point.</summary>
public sealed record DiskFact(string DiskId, string? MachineId, long RegisteredAtUnixMs, long? LastRecoveryPointUnixMs, string? LastRecoveryPointId = null)
{
    /// <summary>Set while a hop's storage fault stops the disk's replication.</summary>
    public ReplicationStopped? Stopped { get; init; }
}

/// <summary>A machine's newest application-consistency failure and newest success (each by its time, either may be absent).</summary>
public sealed record AppConsistencyFact(string MachineId, AppConsistencyFailed? LastFailure, long? LastSuccessUnixMs, string? LastSuccessBookmark)
{
    /// <summary>The newest app-consistent request failed: no success at or after the failure.</summary>
    public bool Failing => LastFailure is { } f && !(LastSuccessUnixMs >= f.TimeUnixMs);
}

/// <summary>A disk's agent clock against the master target's, as last reported (agent − master target, ms).</summary>
public sealed record ClockSkewFact(string DiskId, long SkewMs, long BoundMs, bool Exceeded, long AtUnixMs);

/// <summary>A disk's newest writer refusal and whether an operator resolved it since (released or kept the binding).</summary>
public sealed record WriterRefusalFact(WriterRefusedObserved Refusal, bool Resolved);

/// <summary>
/// A recovery plan's newest drill outcome: a test failover's report (passed or not) or a failed step of one (the job then
/// waits for an operator and writes no report). <see cref="PlanDeleted"/>: the plan was deleted since.
/// </summary>
public sealed record DrillFact(string PlanId, string JobId, bool Passed, string? Failure, long AtUnixMs, bool PlanDeleted = false)
{
    public bool Failing => !Passed && !PlanDeleted;
}

/// <summary>A registered process server's cache capacity and last reported usage.</summary>
public sealed record CacheFact(string ServerId, long CapacityBytes, long UsedBytes);

/// <summary>A registered master target's data-disk slots and the disks attached to it.</summary>
public sealed record SlotFact(string ServerId, int DataDiskSlots, ImmutableHashSet<string> Attached)
{
    /// <summary>Slots minus the one reserved for retention.</summary>
    public int UsableSlots => DataDiskSlots - 1;
    public int FreeSlots => UsableSlots - Attached.Count;
}

/// <summary>
/// The facts the alert rules look at, built from journal events by the pure <see cref="Apply"/>
/// (<c>atUnixMs</c> is the event's journal time, used as a disk's registration time).
/// </summary>
public sealed record AlertFacts(
    ImmutableDictionary<string, DiskFact> Disks,
    ImmutableDictionary<string, string> DiscoveredDiskMachine,
    ImmutableDictionary<string, string> MachineGroup,
    ImmutableDictionary<string, TimeSpan> GroupRpoThreshold,
    ImmutableDictionary<string, CacheFact> ProcessServers,
    ImmutableDictionary<string, SlotFact> MasterTargets)
{
    public static AlertFacts Empty { get; } = new(
        ImmutableDictionary<string, DiskFact>.Empty,
        ImmutableDictionary<string, string>.Empty,
        ImmutableDictionary<string, string>.Empty,
        ImmutableDictionary<string, TimeSpan>.Empty,
        ImmutableDictionary<string, CacheFact>.Empty,
        ImmutableDictionary<string, SlotFact>.Empty);

    /// <summary>Per machine: application-consistency outcomes (from <see cref="IAppConsistencyEvent"/> and app-consistent recovery points).</summary>
    public ImmutableDictionary<string, AppConsistencyFact> AppConsistency { get; init; } = ImmutableDictionary<string, AppConsistencyFact>.Empty;

    /// <summary>Per disk: the last clock-skew report of its master target (<see cref="AgentClockSkewObserved"/>).</summary>
    public ImmutableDictionary<string, ClockSkewFact> ClockSkew { get; init; } = ImmutableDictionary<string, ClockSkewFact>.Empty;

    /// <summary>Per disk: the newest writer refusal of its process server (<see cref="WriterRefusedObserved"/>).</summary>
    public ImmutableDictionary<string, WriterRefusalFact> WriterRefusals { get; init; } = ImmutableDictionary<string, WriterRefusalFact>.Empty;

    /// <summary>Per recovery plan: the newest drill outcome (<see cref="FailoverDrillReported"/>, a failed step of a test failover).</summary>
    public ImmutableDictionary<string, DrillFact> Drills { get; init; } = ImmutableDictionary<string, DrillFact>.Empty;

    /// <summary>Test failover job id → its plan (the step events name only the job).</summary>
    public ImmutableDictionary<string, string> TestJobPlans { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>Machine of a disk: the one it was registered with, else the one whose discovery listed it.</summary>
    public string? MachineOf(DiskFact disk) =>
        !string.IsNullOrWhiteSpace(disk.MachineId) ? disk.MachineId
        : DiscoveredDiskMachine.TryGetValue(disk.DiskId, out var m) ? m : null;

    /// <summary>Events that do not concern alerting leave the facts unchanged.</summary>
    public AlertFacts Apply(object @event, long atUnixMs)
    {
        switch (@event)
        {
            case DiskRegistered e:
                return Disks.TryGetValue(e.DiskId, out var known)
                    ? this with { Disks = Disks.SetItem(e.DiskId, known with { MachineId = e.MachineId }) }
                    : this with { Disks = Disks.SetItem(e.DiskId, new DiskFact(e.DiskId, e.MachineId, atUnixMs, null)) };
            case RecoveryPointRecorded e:
                if (!Disks.TryGetValue(e.DiskId, out var disk)) return this;
                var facts = disk.LastRecoveryPointUnixMs is { } last && last > e.TimeUnixMs
                    ? this
                    : this with { Disks = Disks.SetItem(e.DiskId, disk with { LastRecoveryPointUnixMs = e.TimeUnixMs, LastRecoveryPointId = e.BookmarkId }) };
                if (facts.MachineOf(disk) is not { } pointMachine) return facts;
                if (e.AppConsistencyFailure is { } failure)
                {
                    var reason = e.AppConsistencyFailureKind ?? Classify(failure);
                    // This machine's own freeze worked; another member's did not. Not this machine's failure.
                    if (reason == AppConsistencyFailure.GroupMemberFailed) return facts;
                    return facts.Apply(new AppConsistencyFailed(pointMachine, e.DiskId, e.BookmarkId, reason, failure, e.TimeUnixMs), atUnixMs);
                }
                return e.Kind == RecoveryPointKind.AppConsistent ? facts.AppConsistentAt(pointMachine, e.BookmarkId, e.TimeUnixMs) : facts;
            case AppConsistentPointRecorded e:
                return string.IsNullOrWhiteSpace(e.MachineId) ? this : AppConsistentAt(e.MachineId, e.BookmarkId, e.TimeUnixMs);
            case AppConsistencyFailed e:
                if (string.IsNullOrWhiteSpace(e.MachineId)) return this;
                var failing = AppConsistency.GetValueOrDefault(e.MachineId) ?? new AppConsistencyFact(e.MachineId, null, null, null);
                return failing.LastFailure is { } older && older.TimeUnixMs > e.TimeUnixMs
                    ? this
                    : this with { AppConsistency = AppConsistency.SetItem(e.MachineId, failing with { LastFailure = e }) };
            case ReplicationStopped e:
                return Disks.TryGetValue(e.DiskId, out var stopped) ? this with { Disks = Disks.SetItem(e.DiskId, stopped with { Stopped = e }) } : this;
            case ReplicationResumed e:
                return Disks.TryGetValue(e.DiskId, out var resumed) ? this with { Disks = Disks.SetItem(e.DiskId, resumed with { Stopped = null }) } : this;
            case AgentClockSkewObserved e:
                return ClockSkew.TryGetValue(e.DiskId, out var skew) && skew.AtUnixMs > e.AtUnixMs
                    ? this
                    : this with { ClockSkew = ClockSkew.SetItem(e.DiskId, new ClockSkewFact(e.DiskId, e.SkewMs, e.BoundMs, e.Exceeded, e.AtUnixMs)) };
            case WriterRefusedObserved e:
                return WriterRefusals.TryGetValue(e.DiskId, out var refused) && refused.Refusal.AtUnixMs > e.AtUnixMs
                    ? this
                    : this with { WriterRefusals = WriterRefusals.SetItem(e.DiskId, new WriterRefusalFact(e, false)) };
            case WriterRefusalResolved e:
                // Only a resolution at or after the refusal clears it: a refusal reported after the operator acted holds.
                return WriterRefusals.TryGetValue(e.DiskId, out var open) && open.Refusal.AtUnixMs <= e.AtUnixMs
                    ? this with { WriterRefusals = WriterRefusals.SetItem(e.DiskId, open with { Resolved = true }) }
                    : this;
            case MachineDiscovered e:
                var map = DiscoveredDiskMachine;
                foreach (var d in e.Properties.Disks ?? []) map = map.SetItem(d.DiskId, e.MachineId);
                return this with { DiscoveredDiskMachine = map };
            case MachineAddedToGroup e:
                return this with { MachineGroup = MachineGroup.SetItem(e.MachineId, e.GroupId) };
            case MachineRemovedFromGroup e:
                return MachineGroup.TryGetValue(e.MachineId, out var g) && g == e.GroupId
                    ? this with { MachineGroup = MachineGroup.Remove(e.MachineId) }
                    : this;
            case ProtectionGroupCreated e:
                return this with { GroupRpoThreshold = GroupRpoThreshold.SetItem(e.GroupId, e.Settings.RpoThreshold) };
            case ReplicationSettingsChanged e:
                return this with { GroupRpoThreshold = GroupRpoThreshold.SetItem(e.GroupId, e.Settings.RpoThreshold) };
            case ProcessServerRegistered e:
                var used = ProcessServers.TryGetValue(e.ServerId, out var ps) ? ps.UsedBytes : 0;
                return this with { ProcessServers = ProcessServers.SetItem(e.ServerId, new CacheFact(e.ServerId, e.CacheBytes, used)) };
            case CacheUsageReported e:
                return ProcessServers.TryGetValue(e.ServerId, out var server)
                    ? this with { ProcessServers = ProcessServers.SetItem(e.ServerId, server with { UsedBytes = e.UsedBytes }) }
                    : this;
            case MasterTargetRegistered e:
                var attached = MasterTargets.TryGetValue(e.ServerId, out var mt) ? mt.Attached : ImmutableHashSet<string>.Empty;
                return this with { MasterTargets = MasterTargets.SetItem(e.ServerId, new SlotFact(e.ServerId, e.DataDiskSlots, attached)) };
            case ReplicaAttached e:
                return MasterTargets.TryGetValue(e.ServerId, out var target)
                    ? this with { MasterTargets = MasterTargets.SetItem(e.ServerId, target with { Attached = target.Attached.Add(e.DiskId) }) }
                    : this;
            case ReplicaDetached e:
                return MasterTargets.TryGetValue(e.ServerId, out var holder)
                    ? this with { MasterTargets = MasterTargets.SetItem(e.ServerId, holder with { Attached = holder.Attached.Remove(e.DiskId) }) }
                    : this;
            case FailoverJobStarted { Kind: FailoverKind.Test } e:
                return this with { TestJobPlans = TestJobPlans.SetItem(e.JobId, e.PlanId) };
            case FailoverDrillReported e when e.Report is { } report:
                return DrillOutcome(new DrillFact(report.PlanId, report.JobId, report.Passed, report.Failure, report.CompletedUnixMs));
            case FailoverStepFailed e when TestJobPlans.TryGetValue(e.JobId, out var failedPlan):
                return DrillOutcome(new DrillFact(failedPlan, e.JobId, false, $"step {e.Index} failed: {e.Error}", e.AtUnixMs));
            case RecoveryPlanDeleted e:
                return Drills.TryGetValue(e.PlanId, out var drilled)
                    ? this with { Drills = Drills.SetItem(e.PlanId, drilled with { PlanDeleted = true }) }
                    : this;
            default:
                return this;
        }
    }

    /// <summary>Only a newer (or equally new, later journaled) outcome replaces a plan's drill fact.</summary>
    private AlertFacts DrillOutcome(DrillFact outcome) =>
        Drills.TryGetValue(outcome.PlanId, out var known) && known.AtUnixMs > outcome.AtUnixMs
            ? this
            : this with { Drills = Drills.SetItem(outcome.PlanId, outcome) };

    /// <summary>
    /// The failure kind named in the text of a point recorded before points carried the kind (or from an agent that
    /// predates it): the agents write the hook outcome into the text.
    /// </summary>
    private static AppConsistencyFailure Classify(string failure) =>
        failure.Contains("no application freeze hook", StringComparison.Ordinal) ? AppConsistencyFailure.NoHooksConfigured
        : failure.Contains(nameof(HookOutcomeNames.TimedOut), StringComparison.Ordinal) ? AppConsistencyFailure.HookTimedOut
        : failure.Contains(nameof(HookOutcomeNames.Missing), StringComparison.Ordinal) ? AppConsistencyFailure.HookMissing
        : AppConsistencyFailure.HookFailed;

    // The agent's HookOutcome names as they appear in a point's flag (the agent assembly is not referenced here).
    private enum HookOutcomeNames { TimedOut, Missing }

    /// <summary>Events from different actors need not arrive in time order: only a newer success replaces an older one.</summary>
    private AlertFacts AppConsistentAt(string machineId, string bookmarkId, long timeUnixMs)
    {
        var fact = AppConsistency.GetValueOrDefault(machineId) ?? new AppConsistencyFact(machineId, null, null, null);
        return fact.LastSuccessUnixMs > timeUnixMs
            ? this
            : this with { AppConsistency = AppConsistency.SetItem(machineId, fact with { LastSuccessUnixMs = timeUnixMs, LastSuccessBookmark = bookmarkId }) };
    }
}
