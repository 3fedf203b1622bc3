using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.ReadModels;

/// <summary>
/// The pure mapping from journal events to job changes. A job's id is derived from what it is about
/// (kind and target, plus the sequence of the event that started it), so replaying the journal
/// rebuilds the same jobs.
/// </summary>
public static class JobRules
{
    /// <summary>Returns the jobs after <paramref name="event"/> (persisted at <paramref name="atUnixMs"/>) and the ones it changed.</summary>
    public static (IReadOnlyDictionary<string, Job> Jobs, IReadOnlyList<Job> Changed) Apply(
        IReadOnlyDictionary<string, Job> jobs, object @event, long atUnixMs, long sequenceNr)
    {
        var next = new Dictionary<string, Job>(jobs);
        var changed = new List<Job>();

        void Start(string kind, string target, string? detail, long? totalBytes = null)
        {
            var id = $"{kind}:{target}:{sequenceNr}";
            // A new start of the same kind on the same target supersedes a running one.
            foreach (var running in next.Values.Where(j => j.Kind == kind && j.Target == target && j.State == JobState.Running).ToList())
            {
                var superseded = running with { State = JobState.Failed, EndedUnixMs = atUnixMs, Error = "superseded by a new " + kind };
                next[running.Id] = superseded;
                changed.Add(superseded);
            }
            var job = new Job(id, kind, target, JobState.Running, 0, atUnixMs, null, detail, null, totalBytes);
            next[id] = job;
            changed.Add(job);
        }

        void Finish(string kind, string target, string? detail)
        {
            foreach (var running in next.Values.Where(j => j.Kind == kind && j.Target == target && j.State == JobState.Running).ToList())
            {
                // The detail it started with (a resync's reason) stays in front of how it ended.
                var kept = detail is null ? running.Detail : running.Detail is { Length: > 0 } started ? $"{started}; {detail}" : detail;
                var done = running with { State = JobState.Succeeded, Progress = 1, EndedUnixMs = atUnixMs, Detail = kept };
                next[running.Id] = done;
                changed.Add(done);
            }
        }

        void Fail(string kind, string target, string error)
        {
            foreach (var running in next.Values.Where(j => j.Kind == kind && j.Target == target && j.State == JobState.Running).ToList())
            {
                var failed = running with { State = JobState.Failed, EndedUnixMs = atUnixMs, Error = error };
                next[running.Id] = failed;
                changed.Add(failed);
            }
        }

        void Instant(string kind, string target, string? detail)
        {
            var job = new Job($"{kind}:{target}:{sequenceNr}", kind, target, JobState.Succeeded, 1, atUnixMs, atUnixMs, detail, null);
            next[job.Id] = job;
            changed.Add(job);
        }

        void Update(string target, Func<Job, Job> change)
        {
            foreach (var running in next.Values.Where(j => j.Target == target && j.State == JobState.Running && j.Kind.EndsWith("Failover", StringComparison.Ordinal)).ToList())
            {
                var updated = change(running);
                next[running.Id] = updated;
                changed.Add(updated);
            }
        }

        // A failover job moves by steps; its last step done completes it (a test failover's machines then run until their cleanup).
        void StepDone(string target, int index)
        {
            foreach (var running in next.Values.Where(j => j.Target == target && j.State == JobState.Running && j.Kind.EndsWith("Failover", StringComparison.Ordinal) && j.TotalSteps is > 0).ToList())
            {
                var progress = Math.Min(1, (double)(index + 1) / running.TotalSteps!.Value);
                var updated = progress >= 1
                    ? running with { State = JobState.Succeeded, Progress = 1, EndedUnixMs = atUnixMs, Error = null }
                    : running with { Progress = Math.Max(progress, running.Progress), Error = null };
                next[running.Id] = updated;
                changed.Add(updated);
            }
        }

        switch (@event)
        {
            case DiskRegistered e:
                Instant("RegisterDisk", e.DiskId, $"machine {e.MachineId}, {e.SizeBytes >> 20} MiB, via {e.ProcessServerId} to {e.MasterTargetId}");
                // A registered disk starts in initial replication; its ResyncCompleted ends the job.
                Start("InitialReplication", e.DiskId, "reason InitialReplication", e.SizeBytes);
                break;
            case ReplicationProgressRecorded e:
                // Bytes applied against the disk's size: an upper bound of the work, since zero blocks are
                // skipped; the job reaches 1 only when the resync completes.
                foreach (var running in next.Values.Where(j => j.Target == e.DiskId && j.State == JobState.Running && j.TotalBytes is > 0).ToList())
                {
                    var progress = Math.Min(0.99, (double)e.BytesApplied / running.TotalBytes!.Value);
                    if (progress <= running.Progress) continue;
                    var moved = running with { Progress = progress };
                    next[running.Id] = moved;
                    changed.Add(moved);
                }
                break;
            case ResyncRequired e:
                Start(e.Reason == ResyncReason.InitialReplication ? "InitialReplication" : "Resync", e.DiskId, $"reason {e.Reason}");
                break;
            case ResyncCompleted e:
                Finish("InitialReplication", e.DiskId, $"complete at #{e.Sequence}");
                Finish("Resync", e.DiskId, $"complete at #{e.Sequence}");
                break;
            case ProcessServerRegistered e:
                Instant("RegisterProcessServer", e.ServerId, $"cache {e.CacheBytes >> 30} GiB at {e.CacheDirectory}, {e.ChurnCapacityMBps} MB/s");
                break;
            case MasterTargetRegistered e:
                Instant("RegisterMasterTarget", e.ServerId, $"{e.TargetOs}, {e.DataDiskSlots} slots");
                break;
            case VaultCreated e:
                Instant("CreateVault", e.VaultName, $"region {e.Region}");
                break;
            case ConfigurationServerRegisteredEvent e:
                Instant("RegisterConfigurationServer", e.ServerId, null);
                break;
            case ComponentRegistered e:
                Instant("RegisterComponent", e.ComponentId, null);
                break;
            case ComponentRegisteredWithKey e:
                Instant("RegisterComponent", e.ComponentId, $"{e.Kind}, key {e.KeySha256[..16]}");
                break;
            case ProtectionGroupCreated e:
                Instant("CreateProtectionGroup", e.GroupId, $"vault {e.Vault}, RPO threshold {e.Settings.RpoThreshold}, retention {e.Settings.RetentionWindow}");
                break;
            case MachineDiscovered e:
                Instant("DiscoverMachine", e.MachineId, $"{e.Properties.Disks.Count} disk(s)");
                break;
            case ProtectionEnablingStarted e:
                Start("EnableProtection", e.MachineId, $"placed on {e.Placement.MasterTargetId} via {e.Placement.ProcessServerId}");
                break;
            case ProtectionEnablingAborted e:
                Fail("EnableProtection", e.MachineId, e.Reason);
                break;
            case InitialReplicationStarted e:
                Finish("EnableProtection", e.MachineId, null);
                Start("MachineInitialReplication", e.MachineId, null);
                break;
            case InitialReplicationCompleted e:
                Finish("MachineInitialReplication", e.MachineId, null);
                break;
            case FailoverStarted e:
                Start("Failover", e.MachineId, null);
                break;
            case FailoverCompleted e:
                Finish("Failover", e.MachineId, null);
                break;
            case ReprotectStarted e:
                Start("Reprotect", e.MachineId, null);
                break;
            case ReprotectCompleted e:
                Finish("Reprotect", e.MachineId, null);
                break;
            case ProtectionDisablingStarted e:
                Start("DisableProtection", e.MachineId, null);
                break;
            case ProtectionDisabled e:
                Finish("DisableProtection", e.MachineId, null);
                break;
            case FailoverJobStarted e:
                Start($"{e.Kind}Failover", e.JobId, $"plan {e.PlanId} to {e.Point}, {e.Machines.Count} machine(s), {e.Steps.Count} steps");
                Update(e.JobId, j => j with { TotalSteps = e.Steps.Count });
                break;
            case FailoverStepSucceeded e:
                StepDone(e.JobId, e.Index);
                break;
            case FailoverManualActionConfirmed e:
                StepDone(e.JobId, e.Index);
                break;
            case FailoverStepSkipped e:
                StepDone(e.JobId, e.Index);
                break;
            case FailoverStepFailed e:
                // The job waits for a retry, a skip or a cleanup: it still runs, with the step's error shown.
                Update(e.JobId, j => j with { Error = $"step {e.Index} failed: {e.Error}" });
                break;
            case FailoverStepRetried e:
                Update(e.JobId, j => j with { Error = null });
                break;
            case FailoverDrillReported e:
                Update(e.JobId, j => j with { Detail = $"{j.Detail}; drill {(e.Report.Passed ? "passed" : $"failed: {e.Report.Failure}")}" });
                break;
            case FailoverCleanupStarted e:
                foreach (var running in next.Values.Where(j => j.Target == e.JobId && j.State == JobState.Running && j.Kind.EndsWith("Failover", StringComparison.Ordinal)).ToList())
                {
                    var stopped = running with { State = JobState.Failed, EndedUnixMs = atUnixMs, Error = $"cleaned up before it completed: {e.Reason}" };
                    next[running.Id] = stopped;
                    changed.Add(stopped);
                }
                Start("FailoverCleanup", e.JobId, e.Reason);
                break;
            // A commit that moves its machines onto capturing agents is a job of its own while the move runs.
            case FailoverCommittedWithCapture e:
                Start("FailoverCommitCapture", e.JobId, "moving each machine onto a capturing agent of this site");
                break;
            case FailoverCommitCaptured e:
                Finish("FailoverCommitCapture", e.JobId, e.Capture.Failures.Count == 0
                    ? $"{e.Capture.Agents.Count} machine(s) on capturing agents"
                    : $"{e.Capture.Agents.Count} machine(s) on capturing agents; not moved: {string.Join("; ", e.Capture.Failures)}");
                break;
            case FailoverCommitCaptureFailed e:
                Fail("FailoverCommitCapture", e.JobId, e.Error);
                break;
            case FailoverReprotectStarted e:
                Start("FailoverReprotect", e.JobId, $"to {e.Target.ProcessServer}");
                break;
            case FailoverReprotected e:
                Finish("FailoverReprotect", e.JobId, $"{e.Machines.SelectMany(m => m.Disks).Sum(d => d.BytesSent)} of {e.Machines.SelectMany(m => m.Disks).Sum(d => d.SizeBytes)} bytes moved");
                break;
            case FailoverReprotectFailed e:
                Fail("FailoverReprotect", e.JobId, e.Error);
                break;
            case FailoverFailbackStarted e:
                Start("FailoverFailback", e.JobId, null);
                break;
            case FailoverFailedBack e:
                Finish("FailoverFailback", e.JobId, $"the original site holds {string.Join(", ", e.Disks.Select(d => $"{d.DiskId} #{d.Sequence}"))}");
                break;
            case FailoverFailbackFailed e:
                Fail("FailoverFailback", e.JobId, e.Error);
                break;
            case FailoverReturnStarted e:
                Start("FailoverReturn", e.JobId, null);
                break;
            case FailoverReturned e:
                Finish("FailoverReturn", e.JobId, string.Join("; ", e.Machines.Select(m => $"{m.MachineId} {(m.Booted ? "booted" : "not booted")} at {m.Site}")));
                break;
            case FailoverReturnFailed e:
                Fail("FailoverReturn", e.JobId, e.Error);
                break;
            case FailoverCleanedUp e:
                Finish("FailoverCleanup", e.JobId, e.Removed.Count == 0 ? "nothing was left" : $"{e.Removed.Count} thing(s) removed");
                break;
        }
        return (next, changed);
    }
}
