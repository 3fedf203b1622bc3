namespace SiteRecovery.Contracts.Control;

/// <summary>
/// A machine a commit moved onto an agent at the failover site: the agent (a process of its own, found again by its pid
/// and its state folder) serves the machine's images over NBD and captures every write; it replicates nothing until a
/// reprotect gives it the original site's process server, and the reprotect adopts it then (the same agent, the machine
/// neither moved nor restarted again). <paramref name="Restarted"/>: the live move failed and the machine was stopped and
/// started again on the agent's exports.
/// </summary>
public sealed record CaptureAgentRecord(string MachineId, int AgentPid, string AgentStateDirectory, string AgentLog, string Nbd, bool Restarted);

/// <summary>
/// What a commit's capture did: each machine on its agent (<paramref name="Agents"/>), each machine as it runs now
/// (<paramref name="Started"/>, its disks the agent's exports) and its boot record, and a line per machine that could not
/// be moved (it runs on as before, on its images, and a reprotect moves it then).
/// </summary>
public sealed record CommitCapture(IReadOnlyList<CaptureAgentRecord> Agents, IReadOnlyList<StartedMachineRecord> Started, IReadOnlyList<MachineBootRecord> Boots,
    IReadOnlyList<string> Failures);

// ---- commands ----
/// <summary>The commit's capture is done (<see cref="CommitCapture.Failures"/> names the machines it could not move).</summary>
public sealed record RecordCommitCaptured(string JobId, CommitCapture Capture, long AtUnixMs) : IFailoverJobCommand;

/// <summary>The commit's capture failed as a whole; the machines run where they ran, and a reprotect moves them.</summary>
public sealed record FailCommitCapture(string JobId, string Error, long AtUnixMs) : IFailoverJobCommand;

// ---- events ----
/// <summary>
/// The commit, second version: the machines stay failed over, and each is to move onto a capturing agent at this site
/// (the job's follow-up work, repeated after a node restart until <see cref="FailoverCommitCaptured"/> or
/// <see cref="FailoverCommitCaptureFailed"/> is recorded). A journal's <see cref="FailoverCommitted"/> (first version)
/// owes no capture: its reprotect starts the agents itself.
/// </summary>
[Manifest("failover-committed.v2")]
public sealed record FailoverCommittedWithCapture(string JobId, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-commit-captured.v1")]
public sealed record FailoverCommitCaptured(string JobId, CommitCapture Capture, long AtUnixMs) : IFailoverJobEvent;

[Manifest("failover-commit-capture-failed.v1")]
public sealed record FailoverCommitCaptureFailed(string JobId, string Error, long AtUnixMs) : IFailoverJobEvent;
