using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// Runs recovered machines under qemu-system-x86_64 on this node, booting straight from the NBD exports of a point;
/// a machine that must outlive those exports then moves its disks onto images of its own while it runs (<see cref="DiskMirror"/>).
///
/// Bookkeeping, in the spec's work folder (one folder per machine):
///   <c>console-&lt;instance&gt;.log</c>  the serial console (kept after stop: it is the boot's evidence)
///   <c>qemu.pid</c>                  written by qemu (<c>-pidfile</c>)
///   <c>qmp.sock</c>                  the machine's QMP control socket, through which its disks move onto images
///                                  (<see cref="MoveDisksAsync"/>) while it runs
///   <c>machine.json</c>              the handle of the machine started there, written (temp + rename) after qemu runs
///                                  (with the network namespace of its isolation group, if it has one)
///   <c>netns</c>                     the name of that namespace, written before qemu starts: a stop that finds no
///                                  machine.json still finds the namespace to release
/// Invariants:
/// - A pid is signalled only while /proc/PID/cmdline carries the handle's instance id (<see cref="MachineProcess"/>).
/// - qemu daemonizes into its own session: it outlives the node, and a fresh target given only the persisted handle
///   stops it.
/// - Start is idempotent per work folder: while the machine recorded in machine.json runs, Start returns its handle
///   instead of starting a second one (a saga resumed after a node kill repeats its last call). Starts on one target
///   are serialized, so two concurrent starts of one machine cannot both miss the record.
/// - Between qemu daemonizing and machine.json being renamed into place the only record is qemu.pid and the process's
///   command line. A start that finds no running machine.json but a qemu.pid whose process carries this machine's
///   <c>-name</c> adopts that process (its handle is rebuilt from the command line) instead of starting a second one.
/// - Isolated with an isolation group, where network namespaces work: the machine's tap is on its group's bridge
///   before Start returns (<see cref="IsolatedNetwork"/>); a stop removes the tap and, with the group's last machine,
///   the namespace. Otherwise Isolated is user-mode <c>restrict=on</c>, and the handle's Isolation says which ran and why.
/// </summary>
public sealed class LocalQemuTarget : IComputeTarget
{
    public const string TargetName = "local";
    public const string PidFileName = "qemu.pid";
    public const string HandleFileName = "machine.json";
    public const string NetnsFileName = "netns";

    readonly LocalTargetOptions _options;
    readonly SemaphoreSlim _starting = new(1, 1);

    public LocalQemuTarget(LocalTargetOptions? options = null) => _options = options ?? new LocalTargetOptions();

    public string Name => TargetName;

    public IReadOnlyList<string> Validate(MachineSpec spec) =>
        LocalTargetRules.Validate(spec, _options.ResolveHostMemoryMiB(), _options.ResolveOvmf());

    /// <summary>The accelerator machines started now would get, and why.</summary>
    public Task<AcceleratorChoice> AcceleratorAsync(CancellationToken ct) =>
        AcceleratorProbe.ChooseAsync(_options.ResolveQemu(), _options.Accelerator, _options.ProbeTimeout, ct);

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The spec breaks a rule (every broken rule is named) or there are no disks.</exception>
    /// <exception cref="MachineStartException">qemu did not start (its exit code and message are in the exception).</exception>
    public async Task<MachineHandle> StartAsync(MachineSpec spec, IReadOnlyList<DiskSource> disks, CancellationToken ct)
    {
        var problems = Validate(spec);
        if (problems.Count > 0) throw new ArgumentException($"machine {spec.Name}: " + string.Join("; ", problems), nameof(spec));
        if (disks.Count == 0) throw new ArgumentException($"machine {spec.Name}: no disks to boot from", nameof(disks));
        if (disks.FirstOrDefault(d => !IsNbdUri(d.Uri) && QemuCommandLine.LocalFile(d.Uri) is null) is { } notNbd)
            throw new ArgumentException($"machine {spec.Name}: disk {notNbd.DiskId} at '{notNbd.Uri}' is not an NBD URI (nbd://HOST:PORT/NAME or nbd+unix:///NAME?socket=PATH) nor a file:// URI of an existing image", nameof(disks));

        await _starting.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Directory.CreateDirectory(spec.WorkDirectory);
            var handlePath = Path.Combine(spec.WorkDirectory, HandleFileName);
            if (ReadHandle(handlePath) is { } existing && existing.MachineId == spec.MachineId && IsRunning(existing))
                return existing;
            var pidPath = Path.Combine(spec.WorkDirectory, PidFileName);
            if (Adopt(spec, pidPath) is { } adopted)
            {
                // Killed between qemu daemonizing and the tap's move: the move is finished here.
                var tap = QemuCommandLine.TapOf(MachineProcess.CommandLine(adopted.Pid) ?? []);
                if (adopted.NetworkNamespace is { } adoptedNs && tap is not null)
                    using (await IsolatedNetwork.LockAsync(adoptedNs, ct).ConfigureAwait(false))
                    {
                        await IsolatedNetwork.EnsureAsync(adoptedNs, ct).ConfigureAwait(false);
                        await IsolatedNetwork.AttachAsync(tap, adoptedNs, ct).ConfigureAwait(false);
                    }
                WriteHandle(handlePath, adopted);
                return adopted;
            }

            var qemu = _options.ResolveQemu();
            var accelerator = await AcceleratorAsync(ct).ConfigureAwait(false);
            var instanceId = "sr-" + Guid.NewGuid().ToString("N")[..16];
            var consolePath = Path.Combine(spec.WorkDirectory, $"console-{instanceId}.log");
            File.Delete(pidPath);
            var network = await NetworkAsync(spec, instanceId, ct).ConfigureAwait(false);
            // Held from "namespace ensured" to "tap attached": a stop of the group's last machine cannot delete it in between.
            using var groupLock = network.Namespace is { } ns ? await IsolatedNetwork.LockAsync(ns, ct).ConfigureAwait(false) : null;
            if (network.Namespace is not null)
            {
                try
                {
                    await IsolatedNetwork.EnsureAsync(network.Namespace, ct).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    throw new MachineStartException(spec.Name, $"isolated network {network.Namespace}: {e.Message}", e);
                }
                File.WriteAllText(Path.Combine(spec.WorkDirectory, NetnsFileName), network.Namespace);
            }
            var args = QemuCommandLine.Build(spec, disks, accelerator.Accelerator, instanceId, consolePath, pidPath, _options.ResolveOvmf(), network.Tap);

            var startedAt = DateTimeOffset.UtcNow;
            ProcessRun run;
            try
            {
                run = await ForkingThread.RunAsync(qemu, args, spec.WorkDirectory, _options.StartTimeout, ct).ConfigureAwait(false);
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new MachineStartException(spec.Name, $"cannot run {qemu}: {e.Message}", e);
            }
            var pid = ReadPid(pidPath);
            if (run.ExitCode != 0 || pid is null || !MachineProcess.IsOurs(pid.Value, instanceId))
            {
                // A timed-out or cancelled start may have left a daemon behind: it is ours by its instance id.
                if (pid is { } left) await MachineProcess.StopAsync(left, instanceId, _options.StopGrace, CancellationToken.None).ConfigureAwait(false);
                File.Delete(pidPath);
                await ForgetNetworkAsync(spec.WorkDirectory, network, holdingLock: true, CancellationToken.None).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                var why = run.TimedOut ? $"qemu did not daemonize within {_options.StartTimeout.TotalSeconds:F0} s"
                    : run.ExitCode != 0 ? $"qemu exited {run.ExitCode}"
                    : pid is null ? $"qemu exited 0 but wrote no pid to {pidPath}"
                    : $"qemu exited 0 but pid {pid} is not running with instance id {instanceId}";
                throw new MachineStartException(spec.Name, $"{why}: {BoundedProcess.Quote(run, 400)} (console {consolePath})");
            }

            if (network is { Namespace: { } group, Tap: { } tap2 })
            {
                try
                {
                    await IsolatedNetwork.AttachAsync(tap2, group, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException)
                {
                    await MachineProcess.StopAsync(pid.Value, instanceId, _options.StopGrace, CancellationToken.None).ConfigureAwait(false);
                    File.Delete(pidPath);
                    await ForgetNetworkAsync(spec.WorkDirectory, network, holdingLock: true, CancellationToken.None).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                    throw new MachineStartException(spec.Name, $"qemu started but its tap {tap2} could not join {group}'s bridge, so it was stopped: {e.Message}", e);
                }
            }

            var handle = new MachineHandle(TargetName, spec.MachineId, instanceId, pid.Value, consolePath, accelerator.Accelerator, startedAt,
                network.Isolation, network.Namespace);
            WriteHandle(handlePath, handle);
            return handle;
        }
        finally
        {
            _starting.Release();
        }
    }

    public async Task<BootResult> WaitBootedAsync(MachineHandle machine, string marker, TimeSpan timeout, CancellationToken ct)
    {
        var console = new ConsoleFile(machine.ConsolePath);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (console.ReadNew().Any(line => line.Contains(marker, StringComparison.Ordinal)))
                return new BootResult(true, DateTimeOffset.UtcNow - machine.StartedAt, console.Tail, null);
            if (!IsRunning(machine))
            {
                // The last words before the exit count: the marker may be among them.
                if (console.ReadNew(final: true).Any(line => line.Contains(marker, StringComparison.Ordinal)))
                    return new BootResult(true, DateTimeOffset.UtcNow - machine.StartedAt, console.Tail, null);
                return new BootResult(false, DateTimeOffset.UtcNow - machine.StartedAt, console.Tail,
                    $"machine {machine.MachineId}: qemu process {machine.Pid} exited before console {machine.ConsolePath} showed '{marker}'");
            }
            if (clock.Elapsed >= timeout)
                return new BootResult(false, DateTimeOffset.UtcNow - machine.StartedAt, console.Tail,
                    $"machine {machine.MachineId}: console {machine.ConsolePath} did not show '{marker}' within {timeout.TotalSeconds:F0} s (qemu process {machine.Pid} still runs)");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<MovedDisk>> MoveDisksAsync(MachineHandle machine, IReadOnlyList<DiskMove> moves, DiskMoveLimits limits,
        IProgress<DiskMoveProgress>? progress, CancellationToken ct)
    {
        var qmp = await ControlAsync(machine, ct).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
            return await DiskMirror.MoveAsync(qmp, machine.MachineId, moves, limits, progress, ct).ConfigureAwait(false);
    }

    public async Task MoveDisksOntoServedAsync(MachineHandle machine, IReadOnlyList<DiskSource> served, TimeSpan timeout, CancellationToken ct)
    {
        if (served.FirstOrDefault(d => !IsNbdUri(d.Uri)) is { } notNbd)
            throw new ArgumentException($"machine {machine.MachineId}: disk {notNbd.DiskId} at '{notNbd.Uri}' is not an NBD URI", nameof(served));
        var qmp = await ControlAsync(machine, ct).ConfigureAwait(false);
        await using (qmp.ConfigureAwait(false))
            await DiskMirror.MoveOntoServedAsync(qmp, machine.MachineId, served, timeout, ct).ConfigureAwait(false);
    }

    /// <summary>A QMP session with the running machine, for a disk move.</summary>
    async Task<QmpClient> ControlAsync(MachineHandle machine, CancellationToken ct)
    {
        if (!IsRunning(machine)) throw new DiskMoveException($"machine {machine.MachineId}: qemu process {machine.Pid} is not running, so its disks cannot move");
        var socket = ControlSocket(machine);
        if (!File.Exists(socket)) throw new DiskMoveException($"machine {machine.MachineId}: it has no control socket {socket} (started by an older version?), so its disks cannot move while it runs");
        try
        {
            return await QmpClient.ConnectAsync(socket, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new DiskMoveException($"machine {machine.MachineId}: {e.Message}", e);
        }
    }

    /// <summary>The machine's QMP socket: in the folder of its console, where qemu was started.</summary>
    static string ControlSocket(MachineHandle machine) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(machine.ConsolePath))!, QemuCommandLine.ControlSocketName);

    public async Task StopAsync(MachineHandle machine, CancellationToken ct)
    {
        await MachineProcess.StopAsync(machine.Pid, machine.InstanceId, _options.StopGrace, ct).ConfigureAwait(false);
        var folder = Path.GetDirectoryName(machine.ConsolePath);
        // Only this machine's records: a later start in the same folder has its own pid and handle.
        var recorded = folder is null ? null : ReadHandle(Path.Combine(folder, HandleFileName));
        var ours = recorded?.InstanceId == machine.InstanceId;
        // A handle rebuilt from a job's record has no namespace: machine.json (or the netns record) still names it.
        var ns = machine.NetworkNamespace
            ?? (ours ? recorded!.NetworkNamespace : null)
            ?? (recorded is null && folder is not null ? ReadNetns(folder) : null);
        await ForgetNetworkAsync(folder, new NetworkPlan(ns, IsolatedNetwork.TapName(machine.InstanceId), null), holdingLock: false, ct).ConfigureAwait(false);
        if (folder is null) return;
        var pidPath = Path.Combine(folder, PidFileName);
        if (ReadPid(pidPath) == machine.Pid) File.Delete(pidPath);
        if (ours)
        {
            File.Delete(Path.Combine(folder, HandleFileName));
            File.Delete(Path.Combine(folder, QemuCommandLine.ControlSocketName));
        }
    }

    public bool IsRunning(MachineHandle machine) => MachineProcess.IsOurs(machine.Pid, machine.InstanceId);

    public async Task<string?> StopLeftoverAsync(string workDirectory, CancellationToken ct)
    {
        if (ReadHandle(Path.Combine(workDirectory, HandleFileName)) is { } handle)
        {
            var running = IsRunning(handle);
            await StopAsync(handle, ct).ConfigureAwait(false);
            if (running) return $"machine {handle.MachineId} stopped (pid {handle.Pid})";
        }
        // No record: a pid whose console file is in this folder is the start's own qemu (the folder is in its -serial).
        var pidPath = Path.Combine(workDirectory, PidFileName);
        var folder = Path.GetFullPath(workDirectory);
        string? line = null, tap = null;
        if (ReadPid(pidPath) is { } pid)
        {
            var args = MachineProcess.CommandLine(pid);
            var mine = args?.Any(a => a.StartsWith("file:" + folder, StringComparison.Ordinal)) ?? false;
            if (mine)
            {
                tap = QemuCommandLine.TapOf(args!);
                await MachineProcess.StopAsync(pid, "file:" + folder, _options.StopGrace, ct).ConfigureAwait(false);
                line = $"an unrecorded machine in {folder} stopped (pid {pid})";
            }
            File.Delete(pidPath);
        }
        // A start killed before machine.json leaves its group's namespace recorded in the folder only.
        await ForgetNetworkAsync(folder, new NetworkPlan(ReadNetns(folder), tap, null), holdingLock: false, ct).ConfigureAwait(false);
        return line;
    }

    /// <summary>The network an Isolated machine gets: its group's namespace and a tap, or user-mode with the reason.</summary>
    async Task<NetworkPlan> NetworkAsync(MachineSpec spec, string instanceId, CancellationToken ct)
    {
        if (spec.Network != NetworkMode.Isolated) return new NetworkPlan(null, null, null);
        if (spec.IsolationGroup is not { Length: > 0 } group) return new NetworkPlan(null, null, $"{UserModeIsolation} (no isolation group)");
        var choice = await IsolatedNetwork.ChooseAsync(_options.NetworkNamespaces, ct).ConfigureAwait(false);
        if (!choice.Namespaces) return new NetworkPlan(null, null, $"{UserModeIsolation} ({choice.Reason})");
        var ns = IsolatedNetwork.NamespaceName(group);
        var tap = IsolatedNetwork.TapName(instanceId);
        return new NetworkPlan(ns, tap, $"netns {ns} bridge {IsolatedNetwork.Bridge} tap {tap}");
    }

    /// <summary>How an Isolated machine without its group's namespace is isolated (the start of its handle's Isolation).</summary>
    public const string UserModeIsolation = "user-mode restrict=on";

    /// <summary>
    /// Removes the machine's tap (wherever it still is), releases its group's namespace (deleted with the last machine)
    /// and the folder's netns record. Nothing to do for a machine without a namespace whose tap is gone.
    /// </summary>
    static async Task ForgetNetworkAsync(string? folder, NetworkPlan network, bool holdingLock, CancellationToken ct)
    {
        if (network.Tap is { } tap && (network.Namespace is not null || IsolatedNetwork.InHost(tap)))
            await IsolatedNetwork.RemoveTapAsync(tap, network.Namespace, ct).ConfigureAwait(false);
        if (network.Namespace is { } ns)
        {
            // A failed start holds the group's lock already.
            if (holdingLock) await IsolatedNetwork.DeleteIfUnusedAsync(ns, ct).ConfigureAwait(false);
            else await IsolatedNetwork.ReleaseAsync(ns, ct).ConfigureAwait(false);
        }
        if (folder is not null && network.Namespace is not null && ReadNetns(folder) == network.Namespace) File.Delete(Path.Combine(folder, NetnsFileName));
    }

    /// <summary>A served point (an NBD URI over TCP or a Unix socket); <see cref="QemuCommandLine.LocalFile"/> covers a materialized image.</summary>
    static bool IsNbdUri(string uri) =>
        uri.StartsWith("nbd://", StringComparison.Ordinal) || uri.StartsWith("nbd+unix://", StringComparison.Ordinal);

    /// <summary>The machine a killed start left running without its machine.json, rebuilt from qemu.pid and the process's command line.</summary>
    static MachineHandle? Adopt(MachineSpec spec, string pidPath)
    {
        if (ReadPid(pidPath) is not { } pid || MachineProcess.CommandLine(pid) is not { } args) return null;
        string? After(string option) => args.Zip(args.Skip(1)).Where(p => p.First == option).Select(p => p.Second).FirstOrDefault();
        var prefix = QemuCommandLine.GuestName(spec, "");
        if (After("-name") is not { } name || !name.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var instanceId = name[prefix.Length..];
        if (After("-serial") is not { } serial || !serial.StartsWith("file:", StringComparison.Ordinal)) return null;
        var startedAt = new DateTimeOffset(File.GetLastWriteTimeUtc(pidPath), TimeSpan.Zero);
        var tap = QemuCommandLine.TapOf(args);
        var ns = tap is null ? null : ReadNetns(spec.WorkDirectory);
        var isolation = spec.Network != NetworkMode.Isolated ? null
            : ns is not null ? $"netns {ns} bridge {IsolatedNetwork.Bridge} tap {tap}"
            : $"{UserModeIsolation} (adopted)";
        return new MachineHandle(TargetName, spec.MachineId, instanceId, pid, serial["file:".Length..], After("-accel") ?? Accelerators.Tcg, startedAt, isolation, ns);
    }

    /// <summary>The namespace named by a folder's netns record, or null.</summary>
    static string? ReadNetns(string folder)
    {
        try
        {
            var name = File.ReadAllText(Path.Combine(folder, NetnsFileName)).Trim();
            // Only a name of ours: the record is read back into ip commands.
            return name.StartsWith("sr-", StringComparison.Ordinal) && name.Length <= 64 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') ? name : null;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    static int? ReadPid(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
    }

    static MachineHandle? ReadHandle(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<MachineHandle>(File.ReadAllText(path));
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (JsonException) { return null; } // unreadable record: treated as no machine; the pid check still guards signals
    }

    static void WriteHandle(string path, MachineHandle handle)
    {
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(file, handle);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>An Isolated machine's network: its group's namespace and its tap (both null: user-mode), and how reports name it.</summary>
sealed record NetworkPlan(string? Namespace, string? Tap, string? Isolation);

/// <summary>qemu did not start a machine; the message says why (exit code, qemu's own message) and where its console is.</summary>
public sealed class MachineStartException(string machine, string reason, Exception? inner = null)
    : Exception($"start machine {machine}: {reason}", inner)
{
    public string Machine { get; } = machine;
    public string Reason { get; } = reason;
}
