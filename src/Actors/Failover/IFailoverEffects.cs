using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Failover;

/// <summary>
/// What a failover job does outside its journal: resolve points, run scripts, start and remove machines, check disks.
/// The node implements it over its data path, its NBD exports and its compute target; the job's actor only decides
/// and records. Each call may be repeated after a node restart, so each must be safe to repeat: starting a machine
/// that already runs replaces it, removing one that is gone is not an error.
/// A failure is an exception whose message the job records as the step's error.
/// </summary>
public interface IFailoverEffects
{
    /// <summary>
    /// A planned failover's first step: every disk of the machines made read-only at its agent and drained to this master
    /// target, then one point across all of them named <paramref name="pointName"/>, recorded on every disk. Throws naming
    /// the disk and why when the source cannot be stopped (nothing is stopped then).
    /// </summary>
    Task<string> StopSourceAsync(string jobId, IReadOnlyList<string> machines, string pointName, CancellationToken ct);

    /// <summary>Lets the source write again (a planned failover rolled back); the agents that are gone are named, not an error.</summary>
    Task<string> ResumeSourceAsync(string jobId, IReadOnlyList<string> machines, CancellationToken ct);

    /// <summary>The point of every machine for <paramref name="point"/>; throws naming the machine and why when one has none.</summary>
    Task<IReadOnlyList<MachinePoint>> ResolvePointsAsync(IReadOnlyList<string> machines, FailoverPointChoice point, CancellationToken ct);

    /// <summary>Runs the named script from the node's scripts folder; the result is its quoted output, or an exception naming the exit code or the timeout.</summary>
    Task<string> RunScriptAsync(string jobId, string script, TimeSpan timeout, CancellationToken ct);

    /// <summary>Serves every disk of each machine at its point and starts the machines of one boot group, then waits for each to boot.</summary>
    Task<(IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots)> StartGroupAsync(string jobId, FailoverKind kind, IReadOnlyList<MachinePoint> points, CancellationToken ct);

    /// <summary>Each disk's checksum at its point on the two paths the drill report compares.</summary>
    Task<IReadOnlyList<DiskChecksum>> ChecksumsAsync(StartedMachineRecord machine, CancellationToken ct);

    /// <summary>
    /// Removes what the job made for <paramref name="machines"/> (recorded or not: a node killed between starting a
    /// machine and recording it leaves it to be found by the job's id); returns a line per thing removed.
    /// </summary>
    Task<IReadOnlyList<string>> RemoveAsync(string jobId, IReadOnlyList<string> machines, IReadOnlyList<StartedMachineRecord> started, CancellationToken ct);

    /// <summary>
    /// A commit's follow-up: each committed machine moves, while it runs, onto an agent here that serves its images over
    /// NBD and captures every write without a process server (none may be known yet); a machine whose move fails is
    /// stopped and started again on the agent's exports and waited for until it boots. A machine that could not be put on
    /// an agent is named in <see cref="CommitCapture.Failures"/> and left as it was. Safe to repeat after a node restart:
    /// an agent an earlier attempt started is adopted, and a machine already on its exports stays there.
    /// </summary>
    Task<CommitCapture> CaptureAsync(string jobId, IReadOnlyList<StartedMachineRecord> running, CancellationToken ct);

    /// <summary>
    /// Protects a committed failover's running machines back to <paramref name="target"/>: each machine's disks are
    /// served by an agent here that replicates to the original site, its first sync compared by block hashes with the
    /// original disks (only what changed moves). A machine the commit put on a capturing agent (<paramref name="captured"/>)
    /// keeps it: the agent is given the process server and its compare released. Any other is moved onto a new agent
    /// while it runs, or restarted on it and waited for until it boots. Safe to repeat: what an earlier attempt left is
    /// adopted or stopped first.
    /// </summary>
    Task<(IReadOnlyList<ReverseMachineRecord> Machines, IReadOnlyList<StartedMachineRecord> Started, IReadOnlyList<MachineBootRecord> Boots)> ReprotectAsync(
        string jobId, IReadOnlyList<StartedMachineRecord> running, IReadOnlyList<CaptureAgentRecord> captured, ReverseTarget target, CancellationToken ct);

    /// <summary>
    /// The planned failover back: the machines stop here, their agents drain every write to the original site, and it
    /// returns once the original site's master target holds each disk's last write. Safe to repeat.
    /// </summary>
    Task<IReadOnlyList<FailbackDiskRecord>> FailbackAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse, IReadOnlyList<StartedMachineRecord> running,
        ReverseTarget target, CancellationToken ct);

    /// <summary>
    /// Returns failed-back machines to the original site: its node (<paramref name="target"/>'s API) gives each machine's
    /// original disks back from its master target, serves them with an agent that replicates to this site again (compared
    /// by block hashes first) and starts the machine on them; returns once each has booted and its first sync is done.
    /// Safe to repeat: the original site keeps an agent and a machine an earlier attempt started.
    /// </summary>
    Task<IReadOnlyList<ReturnedMachineRecord>> ReturnAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse, ReverseTarget target, CancellationToken ct);
}
