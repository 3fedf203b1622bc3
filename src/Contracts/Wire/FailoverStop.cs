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
}

/// <summary>
/// Planned failover, step "stop the source": the agent makes the NBD exports of <see cref="DiskIds"/> read-only at once
/// (a write, write-zeroes or trim after it is answered NBD_EPERM and is not captured; requests already inside the export
/// finish and are captured; clients stay connected and can read), then waits, at most <see cref="WaitMs"/> (the agent caps
/// it below the process server's 30 s routing limit), until every delta of those disks is acknowledged by the process
/// server. A disk that is resyncing is refused and nothing changes. Asked again, the answer is the same. The read-only
/// state is in memory only: an agent restarted after a stop serves its disks writable again.
/// </summary>
public sealed record StopForFailover(string RequestId, IReadOnlyList<string> DiskIds, int WaitMs = 20_000) : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) =>
        new StoppedForFailover(RequestId, new Dictionary<string, long>(), error, FailoverStopFailure.NotReached);
}

/// <summary>
/// The disks are read-only and drained: <see cref="LastSequences"/> is, per disk, the last sequence numbered when the
/// process server had acknowledged everything (every write the source ever acknowledged is at or before it). Or
/// <see cref="Error"/> (with <see cref="Failure"/>) says why not; <see cref="LastSequences"/> is then empty.
/// </summary>
public sealed record StoppedForFailover(string RequestId, IReadOnlyDictionary<string, long> LastSequences, string? Error, FailoverStopFailure? Failure = null)
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
