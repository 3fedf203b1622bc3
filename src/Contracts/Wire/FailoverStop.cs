namespace SiteRecovery.Contracts.Wire;

/// <summary>Why an agent could not stop (or resume) a disk for a planned failover.</summary>
public enum FailoverStopFailure
{
    /// <summary>A disk of the request is not one of this agent's.</summary>
    UnknownDisk,
    /// <summary>A disk is resyncing (a scan runs): its replica is not crash-consistent, so no stop can be clean; nothing was changed.</summary>
    Resyncing,
    /// <summary>
    /// The disks are read-only but not every delta was acknowledged by the process server in time (or a resync that began
    /// after the stop, on a stream gap, still runs; the text says which); asking again continues.
    /// </summary>
    DrainTimeout,
    /// <summary>The request never reached the agent, or its answer never came (filled in by a hop or by the node).</summary>
    NotReached,
    /// <summary>The agent answered, but the master target did not hold the reported sequences durably in time (the node's check).</summary>
    TargetBehind,
    /// <summary>
    /// A quiescing stop: a freeze hook failed, timed out or is missing; every hook attempted was thawed and nothing was made
    /// read-only (the text names the hook and its output).
    /// </summary>
    FreezeFailed,
    /// <summary>
    /// A quiescing stop: the agent's shutdown command failed or timed out; the hooks were thawed and nothing was made
    /// read-only (the machine may be partly shut down: the text quotes the command's output).
    /// </summary>
    ShutdownFailed,
    /// <summary>
    /// A quiescing stop is still under way (freeze, shutdown, the wait for NBD clients, or the drain) when this answer
    /// had to leave; it goes on in the agent, and asking again with the same disks joins it.
    /// </summary>
    QuiesceRunning,
}

/// <summary>
/// Planned failover, step "stop the source": the agent makes the NBD exports of <see cref="DiskIds"/> read-only at once
/// (a write, write-zeroes or trim after it is answered NBD_EPERM and is not captured; requests already inside the export
/// finish and are captured; clients stay connected and can read), then waits, at most <see cref="WaitMs"/> (the agent caps
/// it below the process server's 30 s routing limit), until every delta of those disks is acknowledged by the process
/// server. A disk that is resyncing is refused and nothing changes. Asked again, the answer is the same. The read-only
/// state is in memory only: an agent restarted after a stop serves its disks writable again.
/// <para>
/// With <see cref="Quiesce"/> (a planned failover) the agent first, in this order: runs its freeze hooks (a failure:
/// <see cref="FailoverStopFailure.FreezeFailed"/>, nothing read-only); runs its shutdown command if it has one (a failure:
/// <see cref="FailoverStopFailure.ShutdownFailed"/>); waits, at most <see cref="ClientsWaitMs"/>, for the NBD clients of the
/// disks to disconnect (past it the stop goes on: read-only is what guarantees zero loss, the wait is a courtesy so
/// clients are not refused writes they were still making); then makes the exports read-only and drains as above, and
/// thaws the hooks after the drain. The answer's <see cref="StoppedForFailover.Quiesce"/> says what each step did.
/// </para>
/// <para>
/// Versions: <see cref="Quiesce"/> and <see cref="ClientsWaitMs"/> are optional members at the end. An older agent
/// ignores them (unknown JSON members are skipped) and stops at once as before, answering no
/// <see cref="StoppedForFailover.Quiesce"/> text, which a newer node reports as "not quiesced". An older node never sends
/// them and a newer agent then behaves as before (Quiesce false).
/// </para>
/// </summary>
public sealed record StopForFailover(string RequestId, IReadOnlyList<string> DiskIds, int WaitMs = 20_000, bool Quiesce = false, int ClientsWaitMs = 30_000)
    : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) =>
        new StoppedForFailover(RequestId, new Dictionary<string, long>(), error, FailoverStopFailure.NotReached);
}

/// <summary>
/// The disks are read-only and drained: <see cref="LastSequences"/> is, per disk, the last sequence numbered when the
/// process server had acknowledged everything (every write the source ever acknowledged is at or before it). Or
/// <see cref="Error"/> (with <see cref="Failure"/>) says why not; <see cref="LastSequences"/> is then empty.
/// <see cref="Quiesce"/>: for a quiescing stop, one short line saying what the freeze hooks, the shutdown command and the
/// wait for NBD clients did, and how the thaw went (null for a plain stop, and from an older agent, which an older node
/// never reads: an optional member at the end, skipped by a reader that does not know it).
/// </summary>
public sealed record StoppedForFailover(string RequestId, IReadOnlyDictionary<string, long> LastSequences, string? Error, FailoverStopFailure? Failure = null,
    string? Quiesce = null)
    : ControlMessage, IAgentReply;

/// <summary>A planned failover was rolled back: the exports of <see cref="DiskIds"/> take writes again.</summary>
public sealed record ResumeAfterFailover(string RequestId, IReadOnlyList<string> DiskIds) : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) => new ResumedAfterFailover(RequestId, [], error, FailoverStopFailure.NotReached);
}

/// <summary>
/// Writes are allowed again on the request's disks. <see cref="WereNotStopped"/> lists the disks that were writable already
/// (the agent restarted since the stop, or was never stopped): whatever was written there meanwhile was replicated as usual.
/// </summary>
public sealed record ResumedAfterFailover(string RequestId, IReadOnlyList<string> WereNotStopped, string? Error, FailoverStopFailure? Failure = null)
    : ControlMessage, IAgentReply;
