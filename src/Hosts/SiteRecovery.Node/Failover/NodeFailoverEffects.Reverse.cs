using System.Net.Http.Json;
using System.Security.Cryptography;
using SiteRecovery.Compute;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// Reprotect and failback on this node. A committed failover's machines run from images of their own
/// (<c>failover/JOB/MACHINE/DISK.img</c>); a reprotect puts an agent in front of those images
/// (<c>failover/JOB/MACHINE/reverse-agent/</c>) that replicates to the original site, whose master target keeps the
/// original disks as its replicas, so the agent's first sync compares block hashes and moves only what changed since
/// the failover. A machine that runs is moved onto the agent's NBD exports while it runs (a qemu mirror that copies
/// nothing and pivots its drives, <see cref="IComputeTarget.MoveDisksOntoServedAsync"/>), so every later write is
/// captured and the machine is not restarted. One that does not run (it died, or an interrupted attempt left another
/// instance), or whose move fails, is stopped and started again on the exports.
///
/// Order, per machine: the agent starts with its first sync held; the machine moves (or stops); then the hold is released.
/// Until the pivot the machine also writes the images past the agent, and a compare already under way could miss such a
/// write; after it, every write goes through the agent, which the compare, starting only then, covers.
///
/// A failback stops the machine, lets the agent drain and waits until the original site's master target holds each
/// disk's last write.
/// </summary>
public sealed partial class NodeFailoverEffects
{
    HttpClient OriginalSite => peers.Client(TimeSpan.FromSeconds(30));

    /// <summary>How long a live move onto an agent's exports may take: nothing is copied, only in-flight writes are waited for.</summary>
    static readonly TimeSpan LiveMoveTimeout = TimeSpan.FromMinutes(2);

    ReverseAgents Agents => new(settings, m => log.LogInformation("{Message}", m), certificates.CertifyLaunchedAgentAsync);

    static string ReverseFolder(string machineFolder) => Path.Combine(machineFolder, "reverse-agent");

    static MachineHandle HandleOf(StartedMachineRecord m) =>
        new(m.Target, m.MachineId, m.InstanceId, m.Pid, m.ConsolePath, m.Accelerator, DateTimeOffset.FromUnixTimeMilliseconds(m.StartedUnixMs));

    /// <summary>The images a committed machine runs from (disk id, local path, size); throws for a machine served from exports.</summary>
    static IReadOnlyList<(string DiskId, string Path, long Size)> ImagesOf(StartedMachineRecord m, string machineFolder) => m.Disks.Select(d =>
    {
        // A reprotected machine runs on the agent's exports; its images are the files the agent serves.
        var local = Path.Combine(machineFolder, $"{d.DiskId}.img");
        if (d.Uri.StartsWith("file://", StringComparison.Ordinal)) local = new Uri(d.Uri).LocalPath;
        if (!File.Exists(local)) throw new InvalidOperationException($"machine {m.MachineId}: disk {d.DiskId} has no image of its own at '{local}' (a test failover's machines run from exports and are never reprotected)");
        return (d.DiskId, local, d.SizeBytes);
    }).ToList();

    public async Task<(IReadOnlyList<ReverseMachineRecord> Machines, IReadOnlyList<StartedMachineRecord> Started, IReadOnlyList<MachineBootRecord> Boots)> ReprotectAsync(
        string jobId, IReadOnlyList<StartedMachineRecord> running, IReadOnlyList<CaptureAgentRecord> captured, ReverseTarget target, CancellationToken ct)
    {
        if (running.Count == 0) throw new InvalidOperationException($"job {jobId} has no running machine to reprotect");
        var agents = Agents;
        var reverse = new List<ReverseMachineRecord>();
        var started = new List<StartedMachineRecord>();
        var boots = new List<MachineBootRecord>();
        foreach (var m in running)
        {
            var work = Path.Combine(JobDirectory(jobId), m.MachineId);
            var images = ImagesOf(m, work);
            var folder = ReverseFolder(work);
            var committed = HandleOf(m);
            var disks = images.Select(i => (i.DiskId, i.Path)).ToList();
            // The commit put the machine on a capturing agent: that agent stays (same process, the machine on its
            // exports), is given the original site's process server and compares once released. Gone (it died, the
            // host restarted), the machine is treated as a committed machine without one, below.
            var capture = captured.FirstOrDefault(c => c.MachineId == m.MachineId);
            var kept = capture is not null ? await agents.AdoptAsync(capture.AgentStateDirectory, m.MachineId, disks, null, ct, held: true) : null;
            if (capture is not null && kept is null)
                log.LogWarning("{Message}", $"failover {jobId}: machine {m.MachineId}: its commit's agent (pid {capture.AgentPid}) is gone; a new one replicating to {target.ProcessServer} takes its place");
            // The committed machine itself, running (on its images, or on this agent's exports after the commit's or an
            // interrupted attempt's pivot): it is moved, not restarted. Anything else is stopped first, so the images have
            // one writer, the agent: a committed machine that died, or one an interrupted attempt started on its agent.
            var live = compute.IsRunning(committed);
            if (!live) await StopForRestartAsync(committed, work, ct);
            // An agent a node killed or stopped mid-step left serving these images to this site is kept (a failed attempt
            // stops its own, below); any other is stopped and a new one compares everything again, which is always safe.
            var agent = kept
                ?? await agents.AdoptAsync(folder, m.MachineId, disks, target.ProcessServer, ct, held: true)
                ?? await agents.StartAsync(folder, m.MachineId, disks, target.ProcessServer, ct, held: true);
            // A running machine on the commit's agent has nothing to move: taking that agent away would take its disks.
            var pivoted = kept is not null && live;
            try
            {
                if (kept is not null) agents.GiveProcessServer(folder, m.MachineId, target.ProcessServer);
                var on = await OntoAgentAsync(jobId, m, work, live, agent, images, "reverse agent", () => agents.Release(folder, m.MachineId), ct);
                pivoted = !on.Restarted;
                started.Add(on.Started);
                boots.Add(on.Boot);
                var synced = await agents.WaitSyncedAsync(agent, m.MachineId, images.Select(i => i.DiskId).ToList(), ct);
                reverse.Add(new ReverseMachineRecord(m.MachineId, agent.Pid, folder, agent.LogPath, agent.Nbd,
                    synced.Select(s => new ReverseDiskRecord(s.Disk, s.SizeBytes, s.BytesSent, s.BlocksSent, s.BlocksEqual, s.Seconds)).ToList()));
                log.LogInformation("{Message}", $"failover {jobId}: machine {m.MachineId} reprotected to {target.ProcessServer}" +
                    (kept is not null ? $" by its commit's agent (pid {agent.Pid})" : "") + ": " +
                    string.Join(", ", synced.Select(s => $"{s.Disk} {s.BytesSent} of {s.SizeBytes} bytes moved in {s.Seconds:0.0} s")));
            }
            // A failed attempt leaves no agent behind (its machine, if started, is stopped by the next attempt), unless the
            // committed machine already runs on it: stopping it would take the running machine's disks away, so it is kept
            // for the next attempt to adopt. A cancelled one is a node stopping (nothing else cancels a step past the
            // commit): the journal still says Reprotecting, so the node's next start repeats the step, which keeps this
            // agent, as after a kill.
            catch when (!ct.IsCancellationRequested)
            {
                if (!pivoted) await agents.StopLeftoverAsync(folder, CancellationToken.None);
                throw;
            }
        }
        return (reverse, started, boots);
    }

    /// <summary>A committed machine on an agent's exports, and whether it had to be restarted there.</summary>
    sealed record OnAgent(StartedMachineRecord Started, MachineBootRecord Boot, bool Restarted);

    /// <summary>
    /// Puts the committed machine <paramref name="m"/> on <paramref name="agent"/>'s exports of its images: moved while it
    /// runs (<paramref name="live"/>; idempotent, so a machine already there stays), else, or when the move fails, stopped
    /// and started on them and waited for until it boots (throws when it does not). <paramref name="throughAgent"/> runs
    /// once nothing writes the images past the agent any more: after the pivot, or once the machine is stopped.
    /// </summary>
    async Task<OnAgent> OntoAgentAsync(string jobId, StartedMachineRecord m, string work, bool live, ReverseAgents.Running agent,
        IReadOnlyList<(string DiskId, string Path, long Size)> images, string what, Action throughAgent, CancellationToken ct)
    {
        var committed = HandleOf(m);
        var served = images.Select(i => new ServedDiskRecord(i.DiskId, "reverse-agent", $"nbd://{agent.Nbd}/{i.DiskId}", 0, i.Size)).ToList();
        var sources = served.Select(d => new DiskSource(d.DiskId, d.Uri, d.SizeBytes)).ToList();
        if (live)
        {
            try
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await compute.MoveDisksOntoServedAsync(committed, sources, LiveMoveTimeout, ct);
                throughAgent();
                var console = new SiteRecovery.Compute.Local.ConsoleFile(m.ConsolePath);
                console.ReadNew(final: true);
                var guest = console.Tail.LastOrDefault(l => l.Contains("SR-CHECK", StringComparison.Ordinal))?.Trim();
                log.LogInformation("{Message}", $"failover {jobId}: machine {m.MachineId} moved onto its {what}'s exports while running (pid {m.Pid}, not restarted) in {clock.Elapsed.TotalSeconds:0.0} s");
                return new OnAgent(m with { Disks = served },
                    new MachineBootRecord(m.MachineId, true, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), clock.Elapsed.TotalSeconds, guest, null, console.Tail) { Restarted = false },
                    false);
            }
            catch (DiskMoveException e)
            {
                // The move's jobs are cancelled: the machine runs on its images, which a held agent has not read yet.
                log.LogWarning("{Message}", $"failover {jobId}: machine {m.MachineId} could not move onto its {what}'s exports while running ({e.Message}); stopping and restarting it on them instead");
                await StopForRestartAsync(committed, work, ct);
            }
        }
        // Stopped: nothing writes the images but the agent from here on.
        throughAgent();
        var spec = await SpecAsync(m.MachineId, FailoverKind.Planned, work, ct);
        var handle = await compute.StartAsync(spec, sources, ct);
        var record = new StartedMachineRecord(handle.Target, m.MachineId, spec.Name, handle.InstanceId, handle.Pid, handle.ConsolePath, handle.Accelerator,
            handle.StartedAt.ToUnixTimeMilliseconds(), served);
        var boot = await compute.WaitBootedAsync(handle, settings.BootMarker, settings.BootTimeout, ct);
        var check = boot.ConsoleTail.LastOrDefault(l => l.Contains("SR-CHECK", StringComparison.Ordinal))?.Trim();
        if (!boot.Booted) throw new InvalidOperationException($"machine {m.MachineId} did not boot on its {what}'s disks: {boot.Failure}");
        log.LogInformation("{Message}", $"failover {jobId}: machine {m.MachineId} restarted on its {what}'s exports (it was not running, or could not move while running)");
        return new OnAgent(record, new MachineBootRecord(m.MachineId, boot.Booted, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), boot.Elapsed.TotalSeconds, check, boot.Failure, boot.ConsoleTail), true);
    }

    /// <summary>Stops the committed machine and whatever an interrupted attempt started in its folder, before a restart on the agent's exports.</summary>
    async Task StopForRestartAsync(MachineHandle committed, string work, CancellationToken ct)
    {
        await compute.StopAsync(committed, ct);
        await compute.StopLeftoverAsync(work, ct);
    }

    public async Task<IReadOnlyList<FailbackDiskRecord>> FailbackAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse,
        IReadOnlyList<StartedMachineRecord> running, ReverseTarget target, CancellationToken ct)
    {
        var agents = Agents;
        var result = new List<FailbackDiskRecord>();
        foreach (var r in reverse)
        {
            var work = Path.Combine(JobDirectory(jobId), r.MachineId);
            // The machine stops first: from then on nothing writes the images but what is already in the agent.
            if (running.FirstOrDefault(m => m.MachineId == r.MachineId) is { } machine) await compute.StopAsync(HandleOf(machine), ct);
            await compute.StopLeftoverAsync(work, ct);
            var disks = r.Disks.Select(d => d.DiskId).ToList();
            var last = await agents.StopCleanlyAsync(r.AgentStateDirectory, disks, r.AgentPid, ct);
            foreach (var disk in disks)
            {
                await WaitHeldAsync(target, disk, last[disk], ct);
                var image = Path.Combine(work, $"{disk}.img");
                string sha;
                await using (var file = File.OpenRead(image)) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
                result.Add(new FailbackDiskRecord(disk, last[disk], sha));
            }
            log.LogInformation("{Message}", $"failover {jobId}: machine {r.MachineId} failed back: {string.Join(", ", result.Where(x => disks.Contains(x.DiskId)).Select(x => $"{x.DiskId} #{x.Sequence}"))}");
        }
        return result;
    }

    /// <summary>Waits until the original site's master target holds <paramref name="disk"/> durably through <paramref name="sequence"/>, outside any resync.</summary>
    async Task WaitHeldAsync(ReverseTarget target, string disk, long sequence, CancellationToken ct)
    {
        var url = new Uri(new Uri(target.Api.TrimEnd('/') + "/"), $"api/disks/{Uri.EscapeDataString(disk)}/retention");
        var deadline = DateTime.UtcNow + settings.FailbackDrainTimeout;
        string seen = "no answer yet";
        while (true)
        {
            try
            {
                using var response = await OriginalSite.GetAsync(url, ct);
                if (response.IsSuccessStatusCode)
                {
                    var r = await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(ct);
                    var held = r.TryGetProperty("latestConsistentSequence", out var l) && l.ValueKind == System.Text.Json.JsonValueKind.Number ? l.GetInt64() : -1;
                    if (held >= sequence) return;
                    seen = $"it holds #{held}";
                }
                else seen = $"HTTP {(int)response.StatusCode}: {(await response.Content.ReadAsStringAsync(ct)).Trim()}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested) { seen = e.Message; }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the original site ({target.Api}) did not hold {disk} through #{sequence} within {settings.FailbackDrainTimeout}: {seen}");
            await Task.Delay(200, ct);
        }
    }
}
