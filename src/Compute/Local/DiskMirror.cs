using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// Moves a running qemu machine's drives with qemu's own mirror block job, through its QMP socket; two moves use it:
///
/// Onto image files (<see cref="MoveAsync"/>, an instant recovery's second half): a <c>drive-mirror</c> (<c>sync=full</c>)
/// per drive copies what the drive holds and, while it runs, every write the guest makes; once every job is <c>ready</c>
/// (source and image equal, writes going to both) <c>block-job-complete</c> switches each drive to its image. The images
/// are made here (owner-only, the drive's size, sparse) and the jobs told to use them as they are, so qemu never creates
/// files with its own permissions.
///
/// Onto NBD exports that serve the very files the drives run from (<see cref="MoveOntoServedAsync"/>, a reprotect putting
/// an agent in front of a running machine): <c>sync=none</c> and <c>copy-mode=write-blocking</c>. Nothing is copied in the
/// background: source and target are the same bytes, and a background copy would read a block from the file and write
/// it back through the export after the guest had written it anew, undoing that write. Write-blocking sends each guest
/// write to the export as well before the guest hears it is done, so no write waits in a dirty bitmap for a copy. The job
/// is ready at once; the switch then makes the export the drive's only path.
///
/// Both: the guest never pauses and no write is lost (the switch happens inside qemu between two requests). A move that
/// fails or times out cancels its jobs, leaving the machine on what it ran from.
/// </summary>
static class DiskMirror
{
    /// <summary>How often the jobs are polled for progress and readiness.</summary>
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    /// <summary>One drive's job: the disk, its drive id, where it moves (as <c>query-block</c> then names its file) and the <c>drive-mirror</c> arguments.</summary>
    sealed record Mirror(string DiskId, string Device, string Target, JsonObject Arguments);

    public static async Task<IReadOnlyList<MovedDisk>> MoveAsync(QmpClient qmp, string machineId, IReadOnlyList<DiskMove> moves, DiskMoveLimits limits,
        IProgress<DiskMoveProgress>? progress, CancellationToken ct)
    {
        if (limits.BytesPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(limits), $"a move's speed {limits.BytesPerSecond} B/s must be 0 (unlimited) or positive");
        if (moves.GroupBy(m => Path.GetFullPath(m.ImagePath), StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } shared)
            throw new DiskMoveException($"machine {machineId}: disks {string.Join(" and ", shared.Select(m => m.DiskId))} would move onto one image {shared.Key}");
        var clock = Stopwatch.StartNew();
        var mirrors = moves.Select((m, i) =>
        {
            var arguments = new JsonObject
            {
                ["device"] = QemuCommandLine.DriveId(i),
                ["job-id"] = QemuCommandLine.DriveId(i),
                ["target"] = m.ImagePath,
                ["format"] = "raw",
                ["sync"] = "full",
                ["mode"] = "existing",
            };
            if (limits.BytesPerSecond > 0) arguments["speed"] = limits.BytesPerSecond;
            return new Mirror(m.DiskId, QemuCommandLine.DriveId(i), m.ImagePath, arguments);
        }).ToList();
        var copied = await RunAsync(qmp, machineId, mirrors, "their images", limits.Timeout, progress,
            sizes => { foreach (var m in mirrors) CreateImage(m.Target, sizes[m.Device]); }, ct).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        return mirrors.Select(m => new MovedDisk(m.DiskId, m.Target, copied.GetValueOrDefault(m.Device), seconds)).ToList();
    }

    /// <summary>
    /// Moves each drive onto the NBD export in <paramref name="served"/> (one per disk, in the machine's drive order) that
    /// serves the file the drive runs from now. Drives already on their exports are left as they are, so a repeated move
    /// after a pivot that happened is a no-op. Jobs an interrupted move left on the drives (qemu keeps a job when the node
    /// that started it is killed) are cancelled first, leaving those drives on their files, and the move starts afresh.
    /// Returns the seconds it took.
    /// </summary>
    public static async Task<double> MoveOntoServedAsync(QmpClient qmp, string machineId, IReadOnlyList<DiskSource> served, TimeSpan timeout, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        List<Mirror> mirrors;
        try
        {
            var left = (await JobsAsync(qmp, ct).ConfigureAwait(false)).Keys.Where(device => served.Select((_, i) => QemuCommandLine.DriveId(i)).Contains(device)).ToList();
            if (left.Count > 0) await CancelAsync(qmp, left).ConfigureAwait(false);
            var files = await DriveFilesAsync(qmp, ct).ConfigureAwait(false);
            mirrors = served.Select((d, i) => new Mirror(d.DiskId, QemuCommandLine.DriveId(i), d.Uri, new JsonObject
                {
                    ["device"] = QemuCommandLine.DriveId(i),
                    ["job-id"] = QemuCommandLine.DriveId(i),
                    ["target"] = d.Uri,
                    ["format"] = "raw",
                    ["sync"] = "none",
                    ["mode"] = "existing",
                    ["copy-mode"] = "write-blocking",
                }))
                .Where(m => files.GetValueOrDefault(m.Device) != m.Target)
                .ToList();
        }
        catch (Exception e) when (e is QmpException or IOException)
        {
            throw new DiskMoveException($"machine {machineId}: the disks could not be moved onto their exports: {e.Message}", e);
        }
        if (mirrors.Count > 0) await RunAsync(qmp, machineId, mirrors, "their exports", timeout, null, _ => { }, ct).ConfigureAwait(false);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Starts <paramref name="mirrors"/> (after <paramref name="prepare"/> has seen every drive's size), waits until all are
    /// ready, switches them and checks each drive then runs from its target; the bytes each job copied, by drive.
    /// </summary>
    static async Task<Dictionary<string, long>> RunAsync(QmpClient qmp, string machineId, IReadOnlyList<Mirror> mirrors, string onto, TimeSpan timeout,
        IProgress<DiskMoveProgress>? progress, Action<IReadOnlyDictionary<string, long>> prepare, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var started = new List<string>();
        try
        {
            var sizes = await DriveSizesAsync(qmp, ct).ConfigureAwait(false);
            foreach (var m in mirrors)
                if (!sizes.ContainsKey(m.Device))
                    throw new DiskMoveException($"machine {machineId}: disk {m.DiskId} ({m.Device}) is not a drive of the running machine (it has {string.Join(", ", sizes.Keys)})");
            prepare(sizes);
            foreach (var m in mirrors)
            {
                await qmp.ExecuteAsync("drive-mirror", m.Arguments, ct).ConfigureAwait(false);
                started.Add(m.Device);
            }

            var copied = new Dictionary<string, long>();
            var deadline = clock.Elapsed + timeout;
            while (true)
            {
                var jobs = await JobsAsync(qmp, ct).ConfigureAwait(false);
                foreach (var device in started)
                    if (!jobs.ContainsKey(device)) throw new DiskMoveException($"machine {machineId}: the copy of {Disk(mirrors, device)} ended before it was ready: {Why(qmp, device)}");
                progress?.Report(new DiskMoveProgress(jobs.Values.Sum(j => j.Offset), jobs.Values.Sum(j => j.Length)));
                if (jobs.Values.All(j => j.Ready))
                {
                    foreach (var (device, job) in jobs) copied[device] = job.Offset;
                    break;
                }
                if (clock.Elapsed >= deadline)
                    throw new DiskMoveException($"machine {machineId}: the disks were not copied within {timeout.TotalSeconds:F0} s ("
                        + string.Join(", ", mirrors.Where(m => jobs.ContainsKey(m.Device)).Select(m => $"disk {m.DiskId} {jobs[m.Device].Offset}/{jobs[m.Device].Length} bytes")) + ")");
                await Task.Delay(Poll, ct).ConfigureAwait(false);
            }

            foreach (var device in started) await qmp.ExecuteAsync("block-job-complete", new JsonObject { ["device"] = device }, ct).ConfigureAwait(false);
            while ((await JobsAsync(qmp, ct).ConfigureAwait(false)).Count > 0)
            {
                if (clock.Elapsed >= deadline) throw new DiskMoveException($"machine {machineId}: the switch to {onto} did not finish within {timeout.TotalSeconds:F0} s");
                await Task.Delay(Poll, ct).ConfigureAwait(false);
            }
            started.Clear();

            // The drives' files say whether each switch happened: a job can also end by failing after ready.
            var files = await DriveFilesAsync(qmp, ct).ConfigureAwait(false);
            foreach (var m in mirrors)
                if (files.GetValueOrDefault(m.Device) != m.Target)
                    throw new DiskMoveException($"machine {machineId}: disk {m.DiskId} still runs from {files.GetValueOrDefault(m.Device) ?? "nothing"}, not {m.Target}: {Why(qmp, m.Device)}");
            return copied;
        }
        catch (Exception e) when (e is QmpException or IOException or UnauthorizedAccessException)
        {
            throw new DiskMoveException($"machine {machineId}: the disks could not be moved onto {onto}: {e.Message}", e);
        }
        finally
        {
            // Whatever did not switch is cancelled, so the machine goes on with what it ran from only.
            if (started.Count > 0) await CancelAsync(qmp, started).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the jobs of <paramref name="devices"/> without switching them, and waits until they are gone.</summary>
    static async Task CancelAsync(QmpClient qmp, IReadOnlyList<string> devices)
    {
        foreach (var device in devices)
        {
            try { await qmp.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = device, ["force"] = true }, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is QmpException or IOException) { /* the job is gone already, or so is the machine */ }
        }
        // A cancel is asynchronous: the jobs are gone, and the drives back on their sources alone, only once qemu says so.
        await WaitGoneAsync(qmp, devices).ConfigureAwait(false);
    }

    /// <summary>How long cancelled jobs get to end (they stop at their next request).</summary>
    static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(30);

    static async Task WaitGoneAsync(QmpClient qmp, IReadOnlyList<string> devices)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            while ((await JobsAsync(qmp, CancellationToken.None).ConfigureAwait(false)).Keys.Any(devices.Contains) && clock.Elapsed < CancelWait)
                await Task.Delay(Poll / 5).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or IOException) { /* the machine is gone: so are its jobs */ }
    }

    static string Disk(IEnumerable<Mirror> mirrors, string device) =>
        mirrors.Where(m => m.Device == device).Select(m => $"disk {m.DiskId}").FirstOrDefault() ?? device;

    /// <summary>What qemu's events said about the job of <paramref name="device"/> (a failed job's error is only there).</summary>
    static string Why(QmpClient qmp, string device)
    {
        var said = qmp.Events
            .Where(e => e["event"]?.GetValue<string>() is "BLOCK_JOB_COMPLETED" or "BLOCK_JOB_ERROR" or "BLOCK_JOB_CANCELLED"
                && e["data"]?["device"]?.GetValue<string>() == device)
            .Select(e => $"{e["event"]!.GetValue<string>()}{(e["data"]?["error"] is { } err ? $" ({err.GetValue<string>()})" : e["data"]?["operation"] is { } op ? $" ({op.GetValue<string>()} {e["data"]?["action"]?.GetValue<string>()})" : "")}")
            .ToList();
        return said.Count == 0 ? "qemu gave no reason" : string.Join("; ", said);
    }

    static void CreateImage(string path, long size)
    {
        // A repeated move replaces what an earlier attempt left.
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var file = new FileStream(path, options);
        file.SetLength(size);
    }

    sealed record Job(long Offset, long Length, bool Ready);

    static async Task<Dictionary<string, Job>> JobsAsync(QmpClient qmp, CancellationToken ct)
    {
        var jobs = new Dictionary<string, Job>(StringComparer.Ordinal);
        if (await qmp.ExecuteAsync("query-block-jobs", null, ct).ConfigureAwait(false) is JsonArray list)
            foreach (var j in list.OfType<JsonObject>())
                jobs[j["device"]!.GetValue<string>()] = new Job(j["offset"]!.GetValue<long>(), j["len"]!.GetValue<long>(), j["ready"]?.GetValue<bool>() ?? false);
        return jobs;
    }

    static async Task<Dictionary<string, long>> DriveSizesAsync(QmpClient qmp, CancellationToken ct) =>
        (await DrivesAsync(qmp, ct).ConfigureAwait(false))
            .Where(d => d.Inserted?["image"]?["virtual-size"] is not null)
            .ToDictionary(d => d.Device, d => d.Inserted!["image"]!["virtual-size"]!.GetValue<long>(), StringComparer.Ordinal);

    static async Task<Dictionary<string, string?>> DriveFilesAsync(QmpClient qmp, CancellationToken ct) =>
        (await DrivesAsync(qmp, ct).ConfigureAwait(false))
            .ToDictionary(d => d.Device, d => d.Inserted?["file"]?.GetValue<string>(), StringComparer.Ordinal);

    static async Task<List<(string Device, JsonObject? Inserted)>> DrivesAsync(QmpClient qmp, CancellationToken ct)
    {
        var drives = new List<(string, JsonObject?)>();
        if (await qmp.ExecuteAsync("query-block", null, ct).ConfigureAwait(false) is JsonArray list)
            foreach (var d in list.OfType<JsonObject>())
                if (d["device"]?.GetValue<string>() is { Length: > 0 } device)
                    drives.Add((device, d["inserted"] as JsonObject));
        return drives;
    }
}
