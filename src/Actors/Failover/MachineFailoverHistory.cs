using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>Where a machine is after the failover jobs it was in; <see cref="NotFailedOver"/> when none moved it.</summary>
public enum MachineFailoverPosition { NotFailedOver, InTestFailover, FailingOver, FailedOver, Reprotecting, Reprotected, FailingBack, FailedBack, Returning, Returned }

/// <summary>One failover job of a machine, as its history shows it.</summary>
public sealed record MachineFailoverItem(string JobId, string PlanId, FailoverKind Kind, FailoverJobStatus Status, long OpenedUnixMs, bool Open, bool Committed,
    IReadOnlyList<string> History);

/// <summary>
/// A machine's failover history: <see cref="State"/> says where the machine is for an operator (<c>failed over (job J,
/// committed)</c>), <see cref="Position"/> the same for a program; both come from the job that decides it
/// (<see cref="JobId"/>, null when none). <see cref="Failovers"/> is every job of the machine, newest first.
/// </summary>
public sealed record MachineFailoverSummary(string MachineId, string State, MachineFailoverPosition Position, string? JobId, IReadOnlyList<MachineFailoverItem> Failovers);

/// <summary>
/// Where a machine is, from the failover directory's jobs that hold it and each job's own view. Rules:
/// <list type="bullet">
/// <item>Jobs are ordered newest first (opened time, then job id, both descending), so the order is total.</item>
/// <item>The newest job that left the machine somewhere decides. A job that is cleaned up (a test failover's cleanup, a
/// rollback) or never started left it where it was before, so the next older job decides; with none left the machine
/// is not failed over.</item>
/// <item>A failed-back job decides (the machine runs at its original site again): a failback is the end of a committed
/// failover, and the machine is free for a new one.</item>
/// <item>The status comes from the job, never the directory's flags, which follow the job's events a moment later.</item>
/// </list>
/// </summary>
public static class MachineFailoverHistory
{
    /// <summary>Whether the job holds the machine (ordinal, as the directory's claims are).</summary>
    public static bool Involves(FailoverEntry entry, string machineId) => entry.Machines.Contains(machineId, StringComparer.Ordinal);

    public static MachineFailoverSummary Summarize(string machineId, IEnumerable<(FailoverEntry Entry, FailoverJobView View)> jobs)
    {
        var ordered = jobs
            .Where(j => Involves(j.Entry, machineId))
            .OrderByDescending(j => j.Entry.OpenedUnixMs)
            .ThenByDescending(j => j.Entry.JobId, StringComparer.Ordinal)
            .ToList();
        var items = ordered
            .Select(j => new MachineFailoverItem(j.Entry.JobId, j.Entry.PlanId, j.Entry.Kind, j.View.Status, j.Entry.OpenedUnixMs, j.Entry.Open,
                j.Entry.Committed || IsAfterCommit(j.View.Status), j.View.History))
            .ToList();
        foreach (var (entry, view) in ordered)
        {
            var position = PositionOf(entry, view);
            if (position == MachineFailoverPosition.NotFailedOver) continue;
            return new MachineFailoverSummary(machineId, Describe(position, entry.JobId, view.Reverse?.ProcessServer), position, entry.JobId, items);
        }
        return new MachineFailoverSummary(machineId, Describe(MachineFailoverPosition.NotFailedOver, null, null), MachineFailoverPosition.NotFailedOver, null, items);
    }

    /// <summary>Where one job leaves its machines; <see cref="MachineFailoverPosition.NotFailedOver"/> when it left them where they were.</summary>
    public static MachineFailoverPosition PositionOf(FailoverEntry entry, FailoverJobView view) => view.Status switch
    {
        FailoverJobStatus.CleanedUp => MachineFailoverPosition.NotFailedOver,
        // Opened in the directory but not started yet: the machine is claimed; once closed, the job never ran.
        FailoverJobStatus.NotStarted when !entry.Open => MachineFailoverPosition.NotFailedOver,
        FailoverJobStatus.Committed => MachineFailoverPosition.FailedOver,
        FailoverJobStatus.Reprotecting => MachineFailoverPosition.Reprotecting,
        FailoverJobStatus.Reprotected => MachineFailoverPosition.Reprotected,
        FailoverJobStatus.FailingBack => MachineFailoverPosition.FailingBack,
        FailoverJobStatus.FailedBack => MachineFailoverPosition.FailedBack,
        FailoverJobStatus.Returning => MachineFailoverPosition.Returning,
        FailoverJobStatus.Returned => MachineFailoverPosition.Returned,
        // Running, waiting, failed at a step, completed or being cleaned up (rolled back): still in the job.
        _ => entry.Kind == FailoverKind.Test ? MachineFailoverPosition.InTestFailover : MachineFailoverPosition.FailingOver,
    };

    /// <summary>The operator's line: <c>failed over (job J, committed)</c>, <c>reprotected to PS (job J)</c>, <c>failed back (job J)</c>, …</summary>
    public static string Describe(MachineFailoverPosition position, string? jobId, string? processServer) => position switch
    {
        MachineFailoverPosition.NotFailedOver => "not failed over",
        MachineFailoverPosition.InTestFailover => $"in a test failover (job {jobId})",
        MachineFailoverPosition.FailingOver => $"failing over (job {jobId}, not committed)",
        MachineFailoverPosition.FailedOver => $"failed over (job {jobId}, committed)",
        MachineFailoverPosition.Reprotecting => $"failed over (job {jobId}, committed), reprotecting to {processServer ?? "the original site"}",
        MachineFailoverPosition.Reprotected => $"reprotected to {processServer ?? "the original site"} (job {jobId})",
        MachineFailoverPosition.FailingBack => $"reprotected to {processServer ?? "the original site"} (job {jobId}), failing back",
        MachineFailoverPosition.FailedBack => $"failed back (job {jobId})",
        MachineFailoverPosition.Returning => $"failed back (job {jobId}), starting at the original site",
        MachineFailoverPosition.Returned => $"failed back and running at the original site (job {jobId})",
        _ => throw new ArgumentOutOfRangeException(nameof(position), position, "not a machine failover position"),
    };

    static bool IsAfterCommit(FailoverJobStatus s) => s is FailoverJobStatus.Committed or FailoverJobStatus.Reprotecting or FailoverJobStatus.Reprotected
        or FailoverJobStatus.FailingBack or FailoverJobStatus.FailedBack or FailoverJobStatus.Returning or FailoverJobStatus.Returned;
}
