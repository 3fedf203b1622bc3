using System.Text.Json;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// The agents that serve a failed-over machine's disks at this site once it is reprotected. Each is an <c>sragent</c>
/// started detached (its own session, output to <c>agent.log</c> in its folder), so it and the machine on top of it
/// outlive this node, as the machine did before. It is known by its pid and its folder: a pid counts as the agent only
/// while its command line names that folder (<see cref="MachineProcess"/>), so a recycled pid is never signalled.
/// A reprotect's agent starts <c>held</c>: its first sync (<c>--hold-first-sync</c>) waits until <see cref="Release"/> creates
/// its folder's release file, once every write of the machine goes through the agent, or nothing writes. A return's agent
/// serves files nothing else writes, so it is not held.
/// A commit's agent starts without a process server (<c>--process-server-file</c>): it serves and captures, replicating
/// nothing, until <see cref="GiveProcessServer"/> writes the original site's into its folder at reprotect; the reprotect
/// adopts it (<see cref="AdoptAsync"/> with no process server) instead of starting another.
/// Each is certified before it starts or is adopted (<paramref name="certify"/>: its writer folder, its machine id; the
/// reason it gets no certificate, or null), so it speaks mutual TLS to a process server that requires it: the
/// certificate lies beside its writer key, where an agent reads it at every connection.
/// </summary>
public sealed class ReverseAgents(FailoverSettings settings, Action<string> log, Func<string, string, CancellationToken, Task<string?>> certify)
{
    public sealed record Running(int Pid, string Folder, string LogPath, string Nbd);

    /// <summary>One disk's finished first sync, as the agent printed it (<c>resync-complete</c>).</summary>
    public sealed record Synced(string Disk, string Reason, long SizeBytes, long BytesSent, long BlocksSent, long BlocksEqual, double Seconds);

    static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    static string PidFile(string folder) => Path.Combine(folder, "agent.pid");
    static int? ReadPid(string folder) => File.Exists(PidFile(folder)) && int.TryParse(File.ReadAllText(PidFile(folder)).Trim(), out var pid) ? pid : null;
    public static string LogFile(string folder) => Path.Combine(folder, "agent.log");
    static string ReleaseFile(string folder) => Path.Combine(folder, "first-sync.release");
    static string ProcessServerFile(string folder) => Path.Combine(folder, "process-server");

    /// <summary>
    /// Gives a commit's capturing agent in <paramref name="folder"/> its process server (written to a temporary name,
    /// then renamed: the agent never reads it half written). Repeating it with the same one is a no-op; another one is
    /// refused, since the agent connected to the first for as long as it runs.
    /// </summary>
    public void GiveProcessServer(string folder, string machineId, string processServer)
    {
        var path = ProcessServerFile(folder);
        if (File.Exists(path))
        {
            var given = File.ReadAllText(path).Trim();
            if (given == processServer) return;
            throw new InvalidOperationException($"the capturing agent of {machineId} ({folder}) replicates to {given} already, not {processServer}: " +
                $"reprotect to {given}, or stop that agent and its machine first");
        }
        SiteRecovery.Contracts.Storage.DurableFile.WriteAtomically(path, System.Text.Encoding.UTF8.GetBytes(processServer + "\n"), null, "process-server");
        log($"agent of {machineId}: given its process server {processServer}");
    }

    /// <summary>
    /// Lets the agent serving from <paramref name="folder"/> start its first sync (the compare). Only once nothing writes the
    /// images past the agent any more: its machine runs on the agent's exports, or is stopped.
    /// </summary>
    public void Release(string folder, string machineId)
    {
        var path = ReleaseFile(folder);
        if (File.Exists(path)) return;
        File.WriteAllText(path, "");
        log($"reverse agent of {machineId}: first sync released");
    }

    /// <summary>Stops whatever agent <paramref name="folder"/>'s pid file names (an earlier attempt's); a line when one ran.</summary>
    public async Task<string?> StopLeftoverAsync(string folder, CancellationToken ct)
    {
        if (ReadPid(folder) is not { } pid || !MachineProcess.IsOurs(pid, folder)) return null;
        await MachineProcess.StopAsync(pid, folder, settings.FailbackDrainTimeout, ct);
        return $"reverse agent (pid {pid}) stopped";
    }

    /// <summary>
    /// Starts an agent for <paramref name="machineId"/> serving <paramref name="disks"/> (disk id → image), replicating to
    /// <paramref name="processServer"/>, comparing every block with the replica by hash first (once released, when
    /// <paramref name="held"/>); returns once it serves NBD. No <paramref name="processServer"/>: a capturing agent, given
    /// one later by <see cref="GiveProcessServer"/>.
    /// </summary>
    public async Task<Running> StartAsync(string folder, string machineId, IReadOnlyList<(string DiskId, string Path)> disks, string? processServer, CancellationToken ct,
        bool held = false)
    {
        Directory.CreateDirectory(folder);
        var logPath = LogFile(folder);
        File.WriteAllText(logPath, "");
        // An earlier agent's release must not let this one compare while its machine may still write the images directly.
        File.Delete(ReleaseFile(folder));
        // Nor an earlier agent's process server make a new capturing one replicate before a reprotect says where to.
        File.Delete(ProcessServerFile(folder));
        await CertifyAsync(folder, machineId, ct);
        var args = new List<string> { "-c", "log=\"$1\"; shift; setsid \"$@\" >>\"$log\" 2>&1 </dev/null & echo $!", "sragent-launch", logPath };
        args.AddRange(settings.ReverseAgentCommand());
        args.AddRange(RunArguments(folder, machineId, disks, processServer, held));
        // Forked from a thread of its own (see ForkingThread): the launching shell must not get a death signal mid-start.
        var run = await ForkingThread.RunAsync("/bin/sh", args, folder, TimeSpan.FromSeconds(30), ct);
        if (run.ExitCode != 0 || !int.TryParse(run.StdOut.Trim(), out var pid))
            throw new InvalidOperationException($"the reverse agent of {machineId} did not start: exit {run.ExitCode?.ToString() ?? "none"}, {run.StdErr.Trim()}");
        File.WriteAllText(PidFile(folder), pid.ToString());
        log($"reverse agent of {machineId} started (pid {pid}) {(processServer is null ? $"capturing {disks.Count} disk(s), replicating nothing until it is given a process server" : $"replicating {disks.Count} disk(s) to {processServer}")}");
        return await WaitReadyAsync(pid, folder, machineId, ct);
    }

    /// <summary>
    /// The agent an interrupted reprotect (a node killed or stopped mid-step) left serving <paramref name="disks"/> towards
    /// <paramref name="processServer"/> from <paramref name="folder"/>, once it serves NBD; null when there is none, after
    /// stopping one that serves anything else. Kept rather than replaced: its first sync, and what that sync moved, are
    /// in its log already; a second agent would compare again, find the blocks sent and report nothing moved.
    /// </summary>
    public async Task<Running?> AdoptAsync(string folder, string machineId, IReadOnlyList<(string DiskId, string Path)> disks, string? processServer, CancellationToken ct,
        bool held = false)
    {
        if (ReadPid(folder) is not { } pid || !MachineProcess.IsOurs(pid, folder)) return null;
        var wanted = RunArguments(folder, machineId, disks, processServer, held);
        if (MachineProcess.CommandLine(pid) is not { } args || !args.AsSpan().EndsWith(wanted.ToArray()))
        {
            if (await StopLeftoverAsync(folder, ct) is { } stopped) log($"{stopped}: it served other disks or another site than the reprotect of {machineId} asks for");
            return null;
        }
        // Its certificate files are read at its next connection: one due (or missing, from before certificates) is issued now.
        await CertifyAsync(folder, machineId, ct);
        log(processServer is null
            ? $"capturing agent of {machineId} (pid {pid}) adopted"
            : $"reverse agent of {machineId} (pid {pid}) adopted: an interrupted reprotect left it replicating to {processServer}");
        return await WaitReadyAsync(pid, folder, machineId, ct);
    }

    /// <summary>
    /// One writer identity per machine across jobs (<c>failover/reverse-writers/MACHINE</c>, beside the job folders):
    /// the original site's process server binds the machine's disks to the first reprotect's agent, and a later
    /// reprotect or return of the same machine from this node must be the same writer, not one refused as another.
    /// </summary>
    static string WriterFolder(string folder, string machineId) =>
        Path.GetFullPath(Path.Combine(folder, "..", "..", "..", WritersFolderName, machineId));

    const string WritersFolderName = "reverse-writers";

    /// <summary>The folder of the launched agents' writer folders, one per machine (<c>DATA/failover/reverse-writers</c>).</summary>
    public static string WritersDirectory(string dataDirectory) => Path.Combine(dataDirectory, "failover", WritersFolderName);

    async Task CertifyAsync(string folder, string machineId, CancellationToken ct)
    {
        if (await certify(WriterFolder(folder, machineId), machineId, ct) is { } none)
            log($"the agent of {machineId} gets no certificate and speaks plain ({none})");
    }

    static List<string> RunArguments(string folder, string machineId, IReadOnlyList<(string DiskId, string Path)> disks, string? processServer, bool held)
    {
        var args = new List<string> { "run", "--id", machineId, "--nbd", "127.0.0.1:0" };
        args.AddRange(processServer is null ? ["--process-server-file", ProcessServerFile(folder)] : ["--process-server", processServer]);
        args.AddRange(["--state-dir", folder, "--compare-with-replica", "--writer-dir", WriterFolder(folder, machineId)]);
        if (held) args.AddRange(["--hold-first-sync", ReleaseFile(folder)]);
        args.Add("--json");
        foreach (var (diskId, path) in disks) args.AddRange(["--disk", $"{diskId}={path}"]);
        return args;
    }

    async Task<Running> WaitReadyAsync(int pid, string folder, string machineId, CancellationToken ct)
    {
        var logPath = LogFile(folder);
        var lines = new LogLines(logPath);
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            foreach (var line in lines.ReadNew())
                if (Event(line, "ready") is { } ready && ready.TryGetProperty("nbd", out var nbd) && nbd.GetString() is { Length: > 0 } endpoint)
                    return new Running(pid, folder, logPath, endpoint);
            if (await GoneAsync(pid, folder, ct))
                throw new InvalidOperationException($"the reverse agent of {machineId} exited before serving its disks: {Tail(logPath)}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the reverse agent of {machineId} did not serve its disks within {ReadyTimeout.TotalSeconds:0} s: {Tail(logPath)}");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Waits until the agent has finished its compare of every disk (or dies, or the time is up).</summary>
    public async Task<IReadOnlyList<Synced>> WaitSyncedAsync(Running agent, string machineId, IReadOnlyList<string> disks, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + settings.ReprotectSyncTimeout;
        var lines = new LogLines(agent.LogPath);
        var done = new Dictionary<string, Synced>(StringComparer.Ordinal);
        while (true)
        {
            foreach (var line in lines.ReadNew())
                if (Event(line, "resync-complete") is { } e && e.GetProperty("reason").GetString() == "Reprotect" && e.GetProperty("disk").GetString() is { } disk)
                    done[disk] = new Synced(disk, "Reprotect", e.GetProperty("sizeBytes").GetInt64(), e.GetProperty("bytesSent").GetInt64(),
                        e.GetProperty("blocksSent").GetInt64(), e.GetProperty("blocksEqual").GetInt64(), e.GetProperty("seconds").GetDouble());
            if (disks.All(done.ContainsKey)) return disks.Select(d => done[d]).ToList();
            if (await GoneAsync(agent.Pid, agent.Folder, ct))
                throw new InvalidOperationException($"the reverse agent of {machineId} exited before its first sync completed: {Tail(agent.LogPath)}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the first sync of {machineId} to the original site did not complete within {settings.ReprotectSyncTimeout}: " +
                    $"{string.Join(", ", disks.Where(d => !done.ContainsKey(d)))} still comparing; {Tail(agent.LogPath)}");
            await Task.Delay(200, ct);
        }
    }

    /// <summary>
    /// SIGTERM: the agent refuses new NBD requests, waits until the process server holds every delta and records a clean
    /// state per disk; returns each disk's last sequence. Throws when a disk's state is not clean (nothing is then known
    /// to have reached the original site).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, long>> StopCleanlyAsync(string folder, IReadOnlyList<string> disks, int pid, CancellationToken ct)
    {
        if (MachineProcess.IsOurs(pid, folder)) await MachineProcess.StopAsync(pid, folder, settings.FailbackDrainTimeout, ct);
        await StopLeftoverAsync(folder, ct);
        var last = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var disk in disks)
        {
            var path = Path.Combine(folder, disk + ".state.json");
            var state = File.Exists(path) ? JsonSerializer.Deserialize<JsonElement>(File.ReadAllBytes(path)) : default;
            if (state.ValueKind != JsonValueKind.Object || !state.GetProperty("Clean").GetBoolean())
                throw new InvalidOperationException($"the reverse agent's state of {disk} is not clean ('{path}'): it did not stop with every write acknowledged " +
                    $"(within {settings.FailbackDrainTimeout.TotalSeconds:0} s); {Tail(LogFile(folder))}");
            last[disk] = state.GetProperty("LastSequence").GetInt64();
        }
        return last;
    }

    /// <summary>
    /// Gone only when two looks 200 ms apart agree: while the launcher execs into the agent, /proc/PID/cmdline reads
    /// empty for a moment (seen as a reprotect failing 90 ms after the start with an empty log).
    /// </summary>
    static async Task<bool> GoneAsync(int pid, string folder, CancellationToken ct)
    {
        if (MachineProcess.IsOurs(pid, folder)) return false;
        await Task.Delay(200, ct);
        return !MachineProcess.IsOurs(pid, folder);
    }

    static IEnumerable<string> Lines(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var lines = new List<string>();
            while (reader.ReadLine() is { } line) lines.Add(line);
            return lines;
        }
        catch (FileNotFoundException) { return []; }
    }

    static JsonElement? Event(string line, string name)
    {
        if (!line.StartsWith('{')) return null;
        try
        {
            var e = JsonSerializer.Deserialize<JsonElement>(line);
            return e.ValueKind == JsonValueKind.Object && e.TryGetProperty("event", out var kind) && kind.GetString() == name ? e : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>
    /// The lines of an agent's log not yet read by one poll loop: each poll reads from where the last one stopped, so a
    /// log that grows for as long as the agent runs is read once, not once per poll. Only whole lines are handed out; a
    /// line still being written is read again, complete, by a later poll. A log shorter than the offset is a new agent's
    /// (the file is emptied at each start) and is read from its beginning.
    /// </summary>
    public sealed class LogLines(string path)
    {
        long _offset;

        /// <summary>Bytes of the log read so far, up to the end of the last whole line handed out.</summary>
        public long Offset => _offset;

        public List<string> ReadNew()
        {
            var lines = new List<string>();
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (stream.Length < _offset) _offset = 0;
                stream.Position = _offset;
                var pending = new MemoryStream();
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
                {
                    var start = 0;
                    for (var i = 0; i < read; i++)
                    {
                        if (buffer[i] != (byte)'\n') continue;
                        pending.Write(buffer, start, i - start);
                        lines.Add(System.Text.Encoding.UTF8.GetString(pending.GetBuffer(), 0, (int)pending.Length).TrimEnd('\r'));
                        _offset += pending.Length + 1;
                        pending.SetLength(0);
                        start = i + 1;
                    }
                    pending.Write(buffer, start, read - start);
                }
            }
            catch (FileNotFoundException) { }
            catch (DirectoryNotFoundException) { }
            return lines;
        }
    }

    static string Tail(string path) => $"last lines of {path}: " + string.Join(" | ", Lines(path).TakeLast(5));
}
