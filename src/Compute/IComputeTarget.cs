namespace SiteRecovery.Compute;

/// <summary>
/// Where recovered machines run: the seam a failover drives. One implementation per folder (<c>Local/</c> starts
/// qemu on this node; Azure comes with the Azure issue). A target never decides which point a machine recovers to:
/// it is handed disks already served (an NBD URI per disk) and starts, watches and removes machines.
/// Every call is idempotent on the <see cref="MachineHandle"/>: a failover saga that resumes after a node kill
/// repeats its last call and must find the same machine, or none, never two.
/// </summary>
public interface IComputeTarget
{
    /// <summary>The target's name as plans and failover properties spell it (<c>local</c>).</summary>
    string Name { get; }

    /// <summary>Every reason <paramref name="spec"/> cannot run on this target (name, size, memory, CPUs, firmware, network), each naming its field; empty when it can.</summary>
    IReadOnlyList<string> Validate(MachineSpec spec);

    /// <summary>
    /// Starts the machine booting from <paramref name="disks"/> (the first is the boot disk). Returns as soon as the
    /// machine's process runs; <see cref="WaitBootedAsync"/> says when it has booted. The handle is what the saga
    /// persists: it must be enough for <see cref="StopAsync"/> after this process is gone.
    /// </summary>
    Task<MachineHandle> StartAsync(MachineSpec spec, IReadOnlyList<DiskSource> disks, CancellationToken ct);

    /// <summary>
    /// Waits until the machine's console shows <paramref name="marker"/>, the machine stops, or <paramref name="timeout"/>
    /// passes; the result carries the console's last lines either way.
    /// </summary>
    Task<BootResult> WaitBootedAsync(MachineHandle machine, string marker, TimeSpan timeout, CancellationToken ct);

    /// <summary>
    /// Moves a running machine's disks onto images of its own without stopping it — the second half of an instant
    /// recovery: the machine booted from the served points, and now each disk's content, with every write the machine
    /// makes meanwhile, is copied into its image, and the machine switches to the image. After a successful return the
    /// machine no longer reads from what served its disks, so the exports can go. <paramref name="moves"/>: one per disk,
    /// in the order <see cref="StartAsync"/> was given them. Not idempotent: a saga that repeats it starts the machine again.
    /// </summary>
    /// <exception cref="DiskMoveException">A copy failed or did not finish within the limits' timeout; the machine still runs from its served disks.</exception>
    Task<IReadOnlyList<MovedDisk>> MoveDisksAsync(MachineHandle machine, IReadOnlyList<DiskMove> moves, DiskMoveLimits limits, IProgress<DiskMoveProgress>? progress, CancellationToken ct);

    /// <summary>
    /// Moves a running machine's disks, while it runs, off the image files they run from onto exports that serve those same
    /// files (<paramref name="served"/>: one per disk, in the order <see cref="StartAsync"/> was given them) — a reprotect
    /// putting an agent in front of a committed machine without restarting it. Nothing is copied: every write the machine
    /// makes from the start of the move on goes through the export too, and after a successful return only through it.
    /// Idempotent: disks already on their exports are left there.
    /// </summary>
    /// <exception cref="DiskMoveException">A move failed or did not finish within <paramref name="timeout"/>; its jobs are cancelled and the machine runs on its images.</exception>
    Task MoveDisksOntoServedAsync(MachineHandle machine, IReadOnlyList<DiskSource> served, TimeSpan timeout, CancellationToken ct);

    /// <summary>Stops the machine and removes what the target made for it (console file excepted). A machine already gone is not an error.</summary>
    Task StopAsync(MachineHandle machine, CancellationToken ct);

    /// <summary>True while the machine's process runs.</summary>
    bool IsRunning(MachineHandle machine);

    /// <summary>
    /// Stops whatever a start in <paramref name="workDirectory"/> left running, recorded or not (a node killed between
    /// starting a machine and recording its handle leaves one that only the folder knows). A line saying what was
    /// stopped, or null when nothing ran.
    /// </summary>
    Task<string?> StopLeftoverAsync(string workDirectory, CancellationToken ct);
}

/// <summary>Network a recovered machine joins. <see cref="Isolated"/> for a test failover: it must not reach the production network.</summary>
public enum NetworkMode { Isolated, Production, None }

/// <summary>
/// What to start: the machine's failover name (its name at the target), CPU and memory, firmware, the network and a
/// static address where the target can assign one. <paramref name="WorkDirectory"/>: a folder of the node's own where the
/// target keeps the console and its bookkeeping for this machine. <paramref name="IsolationGroup"/>: the machines that
/// share one isolated network (a test failover's job id): an <see cref="NetworkMode.Isolated"/> machine reaches the
/// other machines of its group and nothing else; null: a network of its own. <paramref name="GuestProbes"/>: addresses the
/// guest is asked to send its own packets to once booted (a drill's proof of what its network reaches: its group's
/// peers answer, nothing else does); only a guest that reads the target's hints acts on them (the local target's
/// tiny test guest, see <c>Local/GuestNet.cs</c>); they need a <paramref name="StaticAddress"/> to send from.
/// <paramref name="GuestOutside"/>: addresses the guest probes the same way but must not reach (a drill's outside
/// address): tried once, briefly, since no answer is the outcome expected, where a peer that may boot later is retried.
/// <paramref name="VmSize"/>: the machine's failover size where the target has named sizes (an Azure VM size); null: the
/// target picks by <paramref name="Cpus"/> and <paramref name="MemoryMiB"/>.
/// </summary>
public sealed record MachineSpec(
    string MachineId,
    string Name,
    int MemoryMiB,
    int Cpus,
    string Firmware,
    NetworkMode Network,
    string? StaticAddress,
    string WorkDirectory,
    string? IsolationGroup = null,
    IReadOnlyList<string>? GuestProbes = null,
    IReadOnlyList<string>? GuestOutside = null,
    string? VmSize = null);

/// <summary>One disk of a machine: its disk id and where it is served (an NBD URI for the local target; the https URI of a page blob's snapshot for the Azure target).</summary>
public sealed record DiskSource(string DiskId, string Uri, long SizeBytes);

/// <summary>
/// A started machine, as the saga persists it: the target, the machine, the process id and the text that proves the
/// process is this machine's (so a recycled pid is never killed), the console file, and how it is accelerated.
/// <paramref name="Isolation"/>: how its network is isolated, as reports show it (<c>netns sr-job-1-ab12cd34 bridge br0
/// tap srt0123456789ab</c>, <c>user-mode restrict=on (...why)</c>); null for a production network or none, and in
/// handles persisted before it existed. <paramref name="NetworkNamespace"/>: the network namespace the target made for
/// the machine's isolation group, which its stop deletes with the group's last machine; null when there is none.
/// </summary>
public sealed record MachineHandle(string Target, string MachineId, string InstanceId, int Pid, string ConsolePath, string Accelerator, DateTimeOffset StartedAt,
    string? Isolation = null, string? NetworkNamespace = null);

/// <summary>Where one disk of a running machine moves: its disk id and the image file it will run from.</summary>
public sealed record DiskMove(string DiskId, string ImagePath);

/// <summary>
/// How a move may run: it fails after <paramref name="Timeout"/>; <paramref name="BytesPerSecond"/> caps each disk's copy
/// (0: as fast as it goes) so the move does not starve the machine's own I/O or the node's replication.
/// </summary>
public sealed record DiskMoveLimits(TimeSpan Timeout, long BytesPerSecond = 0);

/// <summary>A disk moved onto its image: how many bytes were copied (the disk and the writes made meanwhile) and how long it took.</summary>
public sealed record MovedDisk(string DiskId, string ImagePath, long BytesCopied, double Seconds);

/// <summary>How far a move is: bytes copied of the bytes to copy, summed over the machine's disks (the total grows with the machine's writes).</summary>
public readonly record struct DiskMoveProgress(long Copied, long Total);

/// <summary>A machine's disks could not be moved (onto their images, or onto exports); the message names the disk and why. The machine runs on.</summary>
public sealed class DiskMoveException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>How a boot ended: booted (the marker was seen) after <see cref="Elapsed"/>, or not, with the console's last lines.</summary>
public sealed record BootResult(bool Booted, TimeSpan Elapsed, IReadOnlyList<string> ConsoleTail, string? Failure);
