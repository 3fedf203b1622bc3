namespace SiteRecovery.Compute.Local;

/// <summary>
/// How the local target runs qemu. Every member has a working default on a Debian node with <c>qemu-system-x86</c>.
/// </summary>
public sealed record LocalTargetOptions
{
    /// <summary>The qemu binary; null: <c>qemu-system-x86_64</c> from PATH or the sbin folders.</summary>
    public string? QemuBinary { get; init; }

    /// <summary>
    /// <c>kvm</c> or <c>tcg</c> to skip the probe; null: the environment variable <c>SR_QEMU_ACCEL</c>, else a probe boot
    /// (<see cref="AcceleratorProbe"/>).
    /// </summary>
    public string? Accelerator { get; init; }

    /// <summary>
    /// Whether an Isolated machine with an isolation group gets its group's network namespace (<see cref="IsolatedNetwork"/>):
    /// true or false skips the probe (false: always user-mode <c>restrict=on</c>); null: a probe decides, once per process.
    /// </summary>
    public bool? NetworkNamespaces { get; init; }

    /// <summary>OVMF firmware for <c>uefi</c> machines; null: the first of <see cref="OvmfCandidates"/> that exists.</summary>
    public string? OvmfPath { get; init; }

    /// <summary>The host's memory in MiB for the memory rule; null: MemTotal from /proc/meminfo.</summary>
    public long? HostMemoryMiB { get; init; }

    /// <summary>How long qemu may take to open its disks and daemonize.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stopped machine has to exit after SIGTERM before it gets SIGKILL.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the KVM probe boot may take to show SeaBIOS.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where Debian's <c>ovmf</c> package puts a firmware image usable with <c>-bios</c>.</summary>
    public static readonly IReadOnlyList<string> OvmfCandidates = ["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"];

    internal string ResolveQemu() =>
        QemuBinary ?? SiteRecovery.Contracts.Processes.BoundedProcess.FindCommand("qemu-system-x86_64")
        ?? throw new InvalidOperationException("local target: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)");

    internal string? ResolveOvmf() => OvmfPath is not null ? (File.Exists(OvmfPath) ? OvmfPath : null) : OvmfCandidates.FirstOrDefault(File.Exists);

    internal long ResolveHostMemoryMiB() => HostMemoryMiB ?? HostMemory.TotalMiB();
}

/// <summary>The host's memory, read once from /proc/meminfo.</summary>
static class HostMemory
{
    static readonly Lazy<long> Total = new(Read);

    public static long TotalMiB() => Total.Value;

    static long Read()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                var kib = long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                return kib / 1024;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return long.MaxValue; // unknown: the rule cannot judge, qemu will
    }
}
