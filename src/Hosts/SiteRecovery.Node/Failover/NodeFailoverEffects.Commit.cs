using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// A commit's follow-up on this node: each committed machine (running on images of its own,
/// <c>failover/JOB/MACHINE/DISK.img</c>) moves onto an agent in its folder (<c>reverse-agent/</c>, the folder a reprotect
/// uses) that serves those images over NBD and captures every write while no process server is known: the original site
/// may be gone and no reprotect target is known at commit time. The move is the reprotect's (a qemu mirror that copies
/// nothing and pivots; a machine that does not run, or whose move fails, is stopped and started on the exports and
/// waited for until it boots). The agent starts with its first sync held; the reprotect gives it the process server,
/// releases the hold, and the compare by block hashes then covers every write since the failover: those made before
/// the commit, on the images, and those captured since.
///
/// Per machine, one of two outcomes is recorded: on its agent (pid, folder, NBD), or not moved, with why; a machine not
/// moved keeps running where it ran, and no agent of it is left behind (unless the machine already runs on it). A node
/// killed mid-capture repeats it from its journal: the agent is adopted and a machine already on its exports stays.
/// </summary>
public sealed partial class NodeFailoverEffects
{
    public async Task<CommitCapture> CaptureAsync(string jobId, IReadOnlyList<StartedMachineRecord> running, CancellationToken ct)
    {
        var agents = Agents;
        var captured = new List<CaptureAgentRecord>();
        var started = new List<StartedMachineRecord>();
        var boots = new List<MachineBootRecord>();
        var failures = new List<string>();
        foreach (var m in running)
        {
            var work = Path.Combine(JobDirectory(jobId), m.MachineId);
            var folder = ReverseFolder(work);
            var pivoted = false;
            try
            {
                var images = ImagesOf(m, work);
                var disks = images.Select(i => (i.DiskId, i.Path)).ToList();
                var live = compute.IsRunning(HandleOf(m));
                if (!live) await StopForRestartAsync(HandleOf(m), work, ct);
                var agent = await agents.AdoptAsync(folder, m.MachineId, disks, null, ct, held: true)
                    ?? await agents.StartAsync(folder, m.MachineId, disks, null, ct, held: true);
                // Held until the reprotect: the compare must not start before every write goes through the agent, and
                // without a process server there is nothing to compare with anyway.
                var on = await OntoAgentAsync(jobId, m, work, live, agent, images, "commit's agent", () => { }, ct);
                pivoted = true;
                started.Add(on.Started);
                boots.Add(on.Boot);
                captured.Add(new CaptureAgentRecord(m.MachineId, agent.Pid, folder, agent.LogPath, agent.Nbd, on.Restarted));
                log.LogInformation("{Message}", $"failover {jobId}: machine {m.MachineId} runs on its commit's agent (pid {agent.Pid}, nbd {agent.Nbd}): every write is captured there");
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                // Not on its agent: no agent of it stays behind to be mistaken for one later, nor a restart that did not boot.
                var stillRuns = compute.IsRunning(HandleOf(m));
                if (!pivoted)
                {
                    if (!stillRuns) await compute.StopLeftoverAsync(work, CancellationToken.None);
                    await agents.StopLeftoverAsync(folder, CancellationToken.None);
                }
                failures.Add($"{m.MachineId}: {e.Message}{(stillRuns ? "" : " (it does not run)")}");
                log.LogWarning("{Message}", $"failover {jobId}: machine {m.MachineId} was not moved onto a capturing agent: {e.Message}");
            }
        }
        return new CommitCapture(captured, started, boots, failures);
    }
}
