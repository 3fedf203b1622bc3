using System.Net;
using System.Net.Http.Json;
using SiteRecovery.Compute;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// The end of a failback: the machines run where they started again. This node (the failover site) asks the original
/// site's node, one machine at a time, to return it (<c>POST /api/returns</c>); that node gives the machine's original
/// disk files back from its master target (they held the reverse replication), serves them with an agent that
/// replicates to this site's process server again, comparing by block hashes first (this site's replicas hold the state
/// of the failover, so only what the machine wrote while it ran here moves), and starts the machine on that agent's
/// disks. Both ends are safe to repeat: the original site keeps the agent and the machine an earlier attempt started.
/// </summary>
public sealed partial class NodeFailoverEffects
{
    public async Task<IReadOnlyList<ReturnedMachineRecord>> ReturnAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse, ReverseTarget target, CancellationToken ct)
    {
        if (reverse.Count == 0) throw new InvalidOperationException($"job {jobId} has no reprotected machine to return");
        var process = dataPath.Process;
        var here = process?.BoundEndpoint ?? throw new InvalidOperationException("this node runs no process server: the returned machines would have nowhere to replicate to");
        if (here.Address.Equals(IPAddress.Any) || here.Address.Equals(IPAddress.IPv6Any))
            throw new InvalidOperationException($"this node's process server listens on {here}, which names no address the original site can reach; give --ps-listen a reachable address");
        // A return waits for the machine's boot and the agent's first compare of each disk.
        using var http = peers.Client(settings.BootTimeout + settings.ReprotectSyncTimeout + TimeSpan.FromMinutes(1));
        var url = new Uri(new Uri(target.Api.TrimEnd('/') + "/"), "api/returns");
        var returned = new List<ReturnedMachineRecord>();
        foreach (var r in reverse)
        {
            var spec = await SpecAsync(r.MachineId, FailoverKind.Planned, Path.Combine(JobDirectory(jobId), r.MachineId), ct);
            var request = new MachineReturnRequest(jobId, r.MachineId, r.Disks.Select(d => d.DiskId).ToList(), here.ToString(), spec.Name, spec.MemoryMiB, spec.Cpus, spec.Firmware);
            // The returned machine's disks get a new writer (the original site's agent for the return), not the agent
            // that protected them before the failover: the return, an audited act of a recovery admin, hands them over
            // by releasing their writer bindings at this process server. A repeated attempt releases the return agent's
            // own binding, which it takes back at its next hello (same key, higher epoch).
            foreach (var d in r.Disks)
                if (await process!.ReleaseWriterAsync(d.DiskId, ct))
                    log.LogInformation("{Message}", $"failover {jobId}: disk {d.DiskId}: writer binding released for the return of {r.MachineId}");
            HttpResponseMessage response;
            try { response = await http.PostAsJsonAsync(url, request, ct); }
            catch (HttpRequestException e) { throw new IOException($"the original site ({target.Api}) is not reachable to return {r.MachineId}: {e.Message}", e); }
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                    throw new InvalidOperationException($"the original site ({target.Api}) did not return {r.MachineId}: HTTP {(int)response.StatusCode}: {(await response.Content.ReadAsStringAsync(ct)).Trim()}");
                var record = await response.Content.ReadFromJsonAsync<ReturnedMachineRecord>(ct)
                    ?? throw new InvalidDataException($"the original site ({target.Api}) answered the return of {r.MachineId} with nothing");
                returned.Add(record with { Site = target.Api });
                log.LogInformation("{Message}", $"failover {jobId}: machine {r.MachineId} returned to {target.Api} ({(record.Booted ? $"booted in {record.BootSeconds:0.0} s" : "not booted")}); " +
                    string.Join(", ", record.Disks.Select(d => $"{d.DiskId} {d.BytesSent} of {d.SizeBytes} bytes moved back to this site")));
            }
        }
        return returned;
    }

    /// <summary>
    /// The original site's half (<c>POST /api/returns</c>): the machine's disks must be files this node's master target
    /// adopted (<c>--replica-file</c>). Throws <see cref="ArgumentException"/> for a request that cannot be served here
    /// (nothing is changed then), anything else for a return that failed on the way (repeat it).
    /// </summary>
    public async Task<ReturnedMachineRecord> ReturnHereAsync(MachineReturnRequest request, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new ArgumentException("this node runs no master target, so it holds no machine's original disks");
        if (request.Disks.Count == 0) throw new ArgumentException("disks: at least one disk is needed");
        var files = new List<(string DiskId, string Path)>();
        foreach (var disk in request.Disks)
        {
            if (!options.ReplicaFiles.TryGetValue(disk, out var file))
                throw new ArgumentException($"disk {disk} has no original file on this node (its master target was not started with --replica-file {disk}=PATH), so there is no machine disk to return");
            if (!File.Exists(file)) throw new ArgumentException($"disk {disk}: its original file '{file}' is gone");
            files.Add((disk, file));
        }
        var spec = new MachineSpec(request.MachineId, request.Name, request.MemoryMiB, request.Cpus, request.Firmware, NetworkMode.Production, null,
            Path.Combine(options.DataDirectory, "returns", request.JobId, request.MachineId));
        if (compute.Validate(spec) is { Count: > 0 } problems) throw new ArgumentException($"machine {request.MachineId}: {string.Join("; ", problems)}");

        // From here on the files are the machine's disks again: the master target lets go of them first, for good.
        foreach (var (disk, _) in files)
            await target.GiveBackAsync(disk, $"failback job {request.JobId} returned machine {request.MachineId} to this site at {DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}");
        var agents = Agents;
        var folder = Path.Combine(spec.WorkDirectory, "agent");
        var agent = await agents.AdoptAsync(folder, request.MachineId, files, request.ProcessServer, ct)
            ?? await agents.StartAsync(folder, request.MachineId, files, request.ProcessServer, ct);
        var disks = files.Select(f => new DiskSource(f.DiskId, $"nbd://{agent.Nbd}/{f.DiskId}", new FileInfo(f.Path).Length)).ToList();
        var handle = await compute.StartAsync(spec, disks, ct);
        var boot = await compute.WaitBootedAsync(handle, settings.BootMarker, settings.BootTimeout, ct);
        if (!boot.Booted)
        {
            // The agent stays: it holds the disks' writes and the compare; a repeat starts the machine on it again.
            await compute.StopAsync(handle, CancellationToken.None);
            throw new InvalidOperationException($"machine {request.MachineId} did not boot at this site on its original disks: {boot.Failure} (last console lines: {string.Join(" | ", boot.ConsoleTail.TakeLast(5))})");
        }
        var synced = await agents.WaitSyncedAsync(agent, request.MachineId, request.Disks, ct);
        var guest = boot.ConsoleTail.LastOrDefault(l => l.Contains("SR-CHECK", StringComparison.Ordinal))?.Trim();
        log.LogInformation("{Message}", $"failback {request.JobId}: machine {request.MachineId} runs here again (pid {handle.Pid}, {handle.Accelerator}) on agent {agent.Pid} replicating to {request.ProcessServer}");
        return new ReturnedMachineRecord(request.MachineId, options.ApiUrl, agent.Pid, agent.Nbd, agent.LogPath,
            synced.Select(s => new ReverseDiskRecord(s.Disk, s.SizeBytes, s.BytesSent, s.BlocksSent, s.BlocksEqual, s.Seconds)).ToList(),
            handle.Pid, handle.ConsolePath, handle.Accelerator, boot.Booted, boot.Elapsed.TotalSeconds, guest, boot.Failure);
    }
}
