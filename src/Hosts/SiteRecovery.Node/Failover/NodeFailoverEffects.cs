using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Compute;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node.Exports;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// A failover's work on this node: points from the disks' recovery points and the master target's replicas, each disk
/// served over NBD at its point (copy-on-write, so the replica and journal never change), machines started on the
/// machine's compute target (<see cref="ComputeTargets"/>; an Azure machine imports each point's page-blob snapshot
/// instead, see <c>NodeFailoverEffects.Azure.cs</c>) and watched until their console says they booted, checksums for the drill report, and removal of
/// all of it. Each machine starts in a folder of its job (<c>failover/JOB/MACHINE</c>), so a job that never got to record a
/// machine still finds and stops it.
/// </summary>
public sealed partial class NodeFailoverEffects(DataPathService dataPath, ActorRegistry registry, PointInTimeExports exports, IComputeTarget compute,
    ComputeTargets targets, FailoverSettings settings, NodeOptions options, PlanScripts scripts, GroupBookmarks groupBookmarks, SiteRecovery.Node.Access.PeerTokens peers,
    SiteRecovery.Node.Access.NodeCertificates certificates, ILogger<NodeFailoverEffects> log) : IFailoverEffects
{
    static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    // job → export id → disk: the exports a test failover serves, removed with it (they live as long as this process).
    readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _exportsByJob = new();

    string JobDirectory(string jobId) => Path.Combine(options.DataDirectory, "failover", jobId);

    public async Task<IReadOnlyList<MachinePoint>> ResolvePointsAsync(IReadOnlyList<string> machines, FailoverPointChoice point, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var byMachine = await DisksByMachineAsync(ct);
        var result = new List<MachinePoint>();
        var errors = new List<string>();
        var all = new List<MachineDisks>();
        foreach (var machine in machines)
        {
            var disks = new List<DiskPoints>();
            foreach (var view in byMachine.GetValueOrDefault(machine) ?? [])
            {
                var latest = await target.LatestConsistentSequenceAsync(view.DiskId);
                var times = latest > 0 ? await target.PointTimesAsync(view.DiskId, latest) : null;
                disks.Add(new DiskPoints(view.DiskId, view.RecoveryPoints, latest, times?.ReceivedUnixMs ?? times?.AgentTimeUnixMs ?? 0));
            }
            all.Add(new MachineDisks(machine, disks));
        }
        // The multi-VM consistent point is one choice for all the machines together.
        if (point.Kind == "latest-group")
        {
            var (group, groupError) = GroupPointRules.ChooseLatestGroup(all);
            if (group is null) throw new InvalidOperationException(groupError);
            await CheckTargetsAsync(group, ct);
            return group;
        }
        foreach (var (machine, disks) in all)
        {
            var (chosen, error) = MachinePointRules.Choose(machine, disks, point);
            if (chosen is not null) result.Add(chosen);
            else errors.Add(error!);
        }
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));
        // Before anything starts: every machine's target exists here, and an Azure machine's points have their snapshots.
        await CheckTargetsAsync(result, ct);
        return result;
    }

    /// <summary>The registered disks with a replica here, by machine, in the order the machine lists them (else by id).</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<DiskView>>> DisksByMachineAsync(CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var disks = registry.Get<ProtectedDisksRegion>();
        var views = new List<DiskView>();
        foreach (var id in target.KnownDiskIds())
        {
            var view = await disks.Ask<DiskView>(new GetDisk(id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), AskTimeout, ct);
            if (view.Registered && view.MachineId is { Length: > 0 }) views.Add(view);
        }
        var result = new Dictionary<string, IReadOnlyList<DiskView>>(StringComparer.Ordinal);
        foreach (var group in views.GroupBy(v => v.MachineId!))
        {
            var order = (await MachineAsync(group.Key, ct))?.Properties?.Disks.Select(d => d.DiskId).ToList() ?? [];
            result[group.Key] = group.OrderBy(v => order.IndexOf(v.DiskId) is var i && i >= 0 ? i : int.MaxValue).ThenBy(v => v.DiskId, StringComparer.Ordinal).ToList();
        }
        return result;
    }

    async Task<ProtectedMachineView?> MachineAsync(string machineId, CancellationToken ct)
    {
        var view = await registry.Get<ProtectedMachinesRegion>().Ask<object>(new GetProtectedMachine(machineId), AskTimeout, ct);
        return view is ProtectedMachineView { State: not ProtectionState.NotDiscovered } m ? m : null;
    }

    public async Task<string> StopSourceAsync(string jobId, IReadOnlyList<string> machines, string pointName, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var byMachine = await DisksByMachineAsync(ct);
        var disks = machines.SelectMany(m => byMachine.GetValueOrDefault(m) ?? []).Select(d => d.DiskId).ToList();
        var stop = new SourceStop(target, m => log.LogInformation("{Message}", $"failover {jobId}: {m}"));
        // A planned failover quiesces: freeze hooks, shutdown (or the wait for a bare export's clients), read-only, drain,
        // thaw; the wait for the clients comes on top of the stop's own time.
        var stopped = await stop.StopAsync(disks, StopTimeout + SourceStop.ClientsWait, ct, quiesce: true);
        if (!stopped.Ok)
        {
            // What did stop is let go again, so a failed step leaves the source as it was.
            var resumed = await stop.ResumeAsync(stopped.LastSequences.Keys.ToList(), StopTimeout, CancellationToken.None);
            throw new InvalidOperationException($"the source did not stop: {string.Join("; ", stopped.Errors)}" +
                (stopped.LastSequences.Count == 0 ? "" : $" (the {stopped.LastSequences.Count} disk(s) that had stopped take writes again{(resumed.Ok ? "" : $", except: {string.Join("; ", resumed.Errors)}")})"));
        }
        // Every disk is read-only and drained: one cut across all of them is the state the source ends in.
        var point = await groupBookmarks.TakeAsync($"failover-{jobId}", pointName, machines, app: false, StopTimeout, ct);
        if (point.Outcome != SiteRecovery.Actors.Consistency.GroupBookmarkOutcome.Committed)
            throw new InvalidOperationException($"the final point {pointName} was not taken: {point.AbortReason}: {point.AbortDetail}");
        var disksActor = registry.Get<ProtectedDisksRegion>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        foreach (var (disk, seq) in point.Sequences)
            while (!(await disksActor.Ask<DiskView>(new GetDisk(disk, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), AskTimeout, ct)).RecoveryPoints.Any(p => p.BookmarkId == pointName && p.Sequence == seq))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the final point {pointName} on {disk} (#{seq}) was not recorded within 30 s");
                await Task.Delay(50, ct);
            }
        var drained = string.Join(", ", stopped.LastSequences.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key} #{x.Value}"));
        var quiesced = stopped.Quiesced is { Count: > 0 } q ? $"quiesced ({string.Join(" | ", q)}); " : "";
        return $"{quiesced}{disks.Count} disk(s) read-only and drained ({drained}); final point {pointName} at {string.Join(", ", point.Sequences.OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => $"{x.Key} #{x.Value}"))}";
    }

    public async Task<string> ResumeSourceAsync(string jobId, IReadOnlyList<string> machines, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var byMachine = await DisksByMachineAsync(ct);
        var disks = machines.SelectMany(m => byMachine.GetValueOrDefault(m) ?? []).Select(d => d.DiskId).ToList();
        var resumed = await new SourceStop(target, m => log.LogInformation("{Message}", $"failover {jobId}: {m}")).ResumeAsync(disks, StopTimeout, ct);
        return resumed.Ok
            ? $"the source takes writes again ({disks.Count} disk(s))"
            : $"the source takes writes again except: {string.Join("; ", resumed.Errors)}";
    }

    public Task<string> RunScriptAsync(string jobId, string script, TimeSpan timeout, CancellationToken ct) => scripts.RunAsync(jobId, script, timeout, ct);

    public async Task<(IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots)> StartGroupAsync(
        string jobId, FailoverKind kind, IReadOnlyList<MachinePoint> points, CancellationToken ct)
    {
        var started = new ConcurrentBag<StartedMachineRecord>();
        var boots = new ConcurrentBag<MachineBootRecord>();
        var byMachine = await DisksByMachineAsync(ct);
        // Again at the group's start (properties may have changed since the points were resolved): no machine of a group starts when one cannot.
        await CheckTargetsAsync(points, ct);
        var probes = kind == FailoverKind.Test ? await DrillProbesAsync(jobId, points, ct) : null;
        await Parallel.ForEachAsync(points, new ParallelOptions { MaxDegreeOfParallelism = settings.StartParallelism, CancellationToken = ct }, async (point, token) =>
        {
            var begun = DateTimeOffset.UtcNow;
            try
            {
                var (record, boot) = await StartMachineAsync(jobId, kind, point, byMachine, probes?.GetValueOrDefault(point.MachineId), token);
                started.Add(record);
                boots.Add(boot);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                log.LogWarning("{Message}", $"failover {jobId}: machine {point.MachineId} did not start: {e.Message}");
                boots.Add(new MachineBootRecord(point.MachineId, false, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), (DateTimeOffset.UtcNow - begun).TotalSeconds, null,
                    $"not started: {e.Message}", []));
            }
        });
        return (started.OrderBy(m => m.MachineId, StringComparer.Ordinal).ToList(), boots.OrderBy(b => b.MachineId, StringComparer.Ordinal).ToList());
    }

    async Task<(StartedMachineRecord, MachineBootRecord)> StartMachineAsync(string jobId, FailoverKind kind, MachinePoint point,
        IReadOnlyDictionary<string, IReadOnlyList<DiskView>> byMachine, (IReadOnlyList<DrillProbeTarget> Probes, string? NotProbed)? probes, CancellationToken ct)
    {
        var target = dataPath.Target!;
        var work = Path.Combine(JobDirectory(jobId), point.MachineId);
        var computeTarget = await TargetOfAsync(point.MachineId, ct);
        // A start repeated after a restart or a retry replaces what the last attempt left, on whichever target it was.
        foreach (var t in targets.All) await t.StopLeftoverAsync(work, ct);
        Directory.CreateDirectory(work);
        var order = byMachine.GetValueOrDefault(point.MachineId)?.Select(d => d.DiskId).ToList() ?? [];
        var disks = point.Sequences.Keys.OrderBy(d => order.IndexOf(d) is var i && i >= 0 ? i : int.MaxValue).ThenBy(d => d, StringComparer.Ordinal).ToList();
        var served = new List<ServedDiskRecord>();
        var mine = _exportsByJob.GetOrAdd(jobId, _ => new());
        foreach (var (exportId, disk) in mine.Where(x => disks.Contains(x.Value)).ToList())
            if (mine.TryRemove(exportId, out _)) await exports.RemoveAsync(disk, exportId);
        // Azure imports each point's snapshot itself: nothing is served from here, and the guest takes no probe hints.
        if (IsAzure(computeTarget))
        {
            served = await SnapshotDisksAsync(point, disks, ct);
            if (probes is not null) probes = ([], "the azure target hands a guest no hints: its drill network is the isolated subnet's");
        }
        else foreach (var disk in disks)
        {
            // Instant: the machine boots from the point served over NBD, its writes go to the export's overlay.
            var view = await target.OpenViewAsync(disk, point.Sequences[disk]);
            var s = await exports.AddAsync(disk, view, writable: true, new IPEndPoint(IPAddress.Loopback, 0));
            mine[s.ExportId] = disk;
            served.Add(new ServedDiskRecord(disk, s.ExportId, s.Uri, s.Sequence, view.Size));
        }
        var spec = await SpecAsync(point.MachineId, kind, work, probes?.Probes is { Count: > 0 } p ? p : null, ct, computeTarget);
        var handle = await computeTarget.StartAsync(spec, served.Select(d => new DiskSource(d.DiskId, d.Uri, d.SizeBytes)).ToList(), ct);
        log.LogInformation("{Message}", $"failover {jobId}: machine {point.MachineId} started on {handle.Target} as {handle.InstanceId} ({handle.Accelerator}, pid {handle.Pid}{(handle.Isolation is { } net ? $", network {net}" : "")}) from {string.Join(", ", served.Select(d => $"{d.DiskId}@{d.Sequence}"))}");
        var boot = await computeTarget.WaitBootedAsync(handle, settings.BootMarker, settings.BootTimeout, ct);
        var guest = boot.ConsoleTail.LastOrDefault(l => l.Contains("SR-CHECK", StringComparison.Ordinal))?.Trim();
        // A real failover's machine must outlive this node (its writes are production data from now on): once booted,
        // its disks move onto images of its own while it runs, and the exports it booted from go.
        // An Azure machine's disks are managed disks of its own from the start: nothing moves.
        if (kind != FailoverKind.Test && boot.Booted && !IsAzure(computeTarget)) served = await MoveOntoImagesAsync(jobId, handle, served, work, ct);
        var record = new StartedMachineRecord(handle.Target, point.MachineId, spec.Name, handle.InstanceId, handle.Pid, handle.ConsolePath, handle.Accelerator,
            handle.StartedAt.ToUnixTimeMilliseconds(), served)
            { Isolation = handle.Isolation, Probes = probes?.Probes is { Count: > 0 } asked ? asked : null, NotProbed = probes?.NotProbed };
        return (record, new MachineBootRecord(point.MachineId, boot.Booted, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), boot.Elapsed.TotalSeconds, guest, boot.Failure, boot.ConsoleTail));
    }

    /// <summary>
    /// Copies a booted machine's served disks into <c>DISK.img</c> in its work folder while it runs (every write it makes
    /// meanwhile included) and switches it to them; each disk's SHA-256 at the point is read from the point itself on the
    /// side. On failure the machine is stopped: a real failover's machine left on the node's exports would not outlive it.
    /// </summary>
    async Task<List<ServedDiskRecord>> MoveOntoImagesAsync(string jobId, MachineHandle handle, List<ServedDiskRecord> served, string work, CancellationToken ct)
    {
        var target = dataPath.Target!;
        // Cancelled when the move fails: a whole disk's read would be thrown away.
        using var hashing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sums = served.Select(d => target.ViewSha256Async(d.DiskId, d.Sequence, hashing.Token)).ToList();
        var moves = served.Select(d => new DiskMove(d.DiskId, Path.Combine(work, $"{d.DiskId}.img"))).ToList();
        IReadOnlyList<MovedDisk> moved;
        try
        {
            moved = await compute.MoveDisksAsync(handle, moves, new DiskMoveLimits(settings.MaterializeTimeout, settings.MaterializeBytesPerSecond), null, ct);
        }
        catch (DiskMoveException e)
        {
            await hashing.CancelAsync();
            await compute.StopAsync(handle, CancellationToken.None);
            throw new InvalidOperationException($"booted, then stopped: {e.Message}", e);
        }
        finally
        {
            // Not left running past the move: each read holds a view of the point.
            await Task.WhenAll(sums.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
        if (_exportsByJob.TryGetValue(jobId, out var mine))
            foreach (var d in served)
                if (mine.TryRemove(d.ExportId, out var disk)) await exports.RemoveAsync(disk, d.ExportId);
        log.LogInformation("{Message}", $"failover {jobId}: machine {handle.MachineId} moved onto its images while running: "
            + string.Join(", ", moved.Select(m => $"{m.DiskId} {m.BytesCopied} bytes")) + $" in {moved.Select(m => m.Seconds).DefaultIfEmpty(0).Max():F1} s");
        var images = new List<ServedDiskRecord>();
        for (var i = 0; i < served.Count; i++)
            images.Add(new ServedDiskRecord(served[i].DiskId, "image", new Uri(moves[i].ImagePath).AbsoluteUri, served[i].Sequence, served[i].SizeBytes)
                { Sha256 = (await sums[i]).ToLowerInvariant() });
        return images;
    }

    Task<MachineSpec> SpecAsync(string machineId, FailoverKind kind, string work, CancellationToken ct) => SpecAsync(machineId, kind, work, null, ct);

    /// <summary>
    /// The machine's spec on <paramref name="on"/> (the local target unless given); <paramref name="probes"/>: what a drill's
    /// guest probes (see <see cref="DrillIsolation"/>). The Azure target is given the machine's failover VM size.
    /// </summary>
    async Task<MachineSpec> SpecAsync(string machineId, FailoverKind kind, string work, IReadOnlyList<DrillProbeTarget>? probes, CancellationToken ct, IComputeTarget? on = null)
    {
        var chosen = on ?? compute;
        var machine = await MachineAsync(machineId, ct);
        var name = machine?.Properties?.FailoverName is { Length: > 0 } n ? n : LocalName(machineId);
        var network = kind == FailoverKind.Test ? NetworkMode.Isolated : NetworkMode.Production;
        // A discovered machine carries its failover properties (the local target's memory, CPUs, firmware, a static
        // address); a machine the data path knows only by its agent gets the node's defaults.
        var local = machine?.Properties?.Local;
        // A test failover's machines share one isolated network, their job's: the work folder is failover/JOB/MACHINE.
        var group = kind == FailoverKind.Test ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(work))) : null;
        var spec = new MachineSpec(machineId, name, local?.MemoryMiB ?? settings.DefaultMemoryMiB, local?.Cpus ?? settings.DefaultCpus, local?.Firmware ?? "bios",
            network, machine?.Properties?.StaticAddress, work, group, Addresses(probes, DrillProbeRole.Peer), Addresses(probes, DrillProbeRole.Outside),
            IsAzure(chosen) && machine?.Properties?.FailoverVmSize is { Length: > 0 } size ? size : null);
        var problems = chosen.Validate(spec);
        if (problems.Count > 0) throw new InvalidOperationException($"machine {machineId} cannot run on the {chosen.Name} target: {string.Join("; ", problems)}");
        return spec;
    }

    static List<string>? Addresses(IReadOnlyList<DrillProbeTarget>? probes, DrillProbeRole role) =>
        probes?.Where(p => p.Role == role).Select(p => p.Address).ToList() is { Count: > 0 } addresses ? addresses : null;

    /// <summary>A machine id as a name the local target accepts: letters, digits and '-', at most 63.</summary>
    static string LocalName(string machineId)
    {
        var chars = machineId.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        var name = new string(chars).Trim('-');
        if (name.Length > 63) name = name[..63].TrimEnd('-');
        return name.Length == 0 ? "machine" : name;
    }

    public async Task<IReadOnlyList<DiskChecksum>> ChecksumsAsync(StartedMachineRecord machine, CancellationToken ct)
    {
        var target = dataPath.Target ?? throw new InvalidOperationException("this node does not run the master-target role");
        var scratch = Path.Combine(options.DataDirectory, "failover", "scratch");
        var sums = new List<DiskChecksum>();
        foreach (var disk in machine.Disks)
        {
            // Two independent reads of the same point, side by side.
            var booted = target.ViewSha256Async(disk.DiskId, disk.Sequence, ct);
            var replay = target.ReplaySha256Async(disk.DiskId, disk.Sequence, scratch, ct);
            await Task.WhenAll(booted, replay);
            sums.Add(new DiskChecksum(disk.DiskId, disk.Sequence, await booted, await replay));
        }
        return sums;
    }

    public async Task<IReadOnlyList<string>> RemoveAsync(string jobId, IReadOnlyList<string> machines, IReadOnlyList<StartedMachineRecord> started, CancellationToken ct)
    {
        var removed = new List<string>();
        foreach (var m in started)
        {
            var handle = new MachineHandle(m.Target, m.MachineId, m.InstanceId, m.Pid, m.ConsolePath, m.Accelerator, DateTimeOffset.FromUnixTimeMilliseconds(m.StartedUnixMs));
            var on = targets.Get(m.Target);
            if (IsAzure(on)) removed.Add($"machine {m.MachineId} removed (azure VM {m.InstanceId}, its NIC and its disks)");
            else if (on.IsRunning(handle)) removed.Add($"machine {m.MachineId} stopped (pid {m.Pid})");
            await on.StopAsync(handle, ct);
        }
        var root = JobDirectory(jobId);
        if (Directory.Exists(root))
            foreach (var dir in Directory.EnumerateDirectories(root))
                foreach (var t in targets.All)
                    if (await t.StopLeftoverAsync(dir, ct) is { } line) removed.Add(line);
        if (_exportsByJob.TryRemove(jobId, out var served))
            foreach (var (exportId, disk) in served)
                if (await exports.RemoveAsync(disk, exportId)) removed.Add($"export {exportId} of {disk} discarded with its overlay");
        // Everything but the consoles, which stay with the job as its record.
        var consoles = started.Select(m => Path.GetFullPath(m.ConsolePath)).ToHashSet(StringComparer.Ordinal);
        if (Directory.Exists(root))
            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
                if (!consoles.Contains(Path.GetFullPath(file)) && !Path.GetFileName(file).StartsWith("console", StringComparison.Ordinal))
                {
                    File.Delete(file);
                    removed.Add($"file {Path.GetRelativePath(root, file)} deleted");
                }
        log.LogInformation("{Message}", $"failover {jobId}: cleaned up: {(removed.Count == 0 ? "nothing was left" : string.Join("; ", removed))}");
        return removed;
    }
}
