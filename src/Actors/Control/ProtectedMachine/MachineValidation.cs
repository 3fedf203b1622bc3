using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectedMachine;

/// <summary>
/// Can this machine be protected? Runs before anything is installed on it and returns ALL broken rules:
/// <list type="bullet">
/// <item>1 … <see cref="MaxDisks"/> disks, unique non-empty ids, each 1 byte … <see cref="MaxDiskBytes"/> (1023 GiB).</item>
/// <item>No failover clusters, no UEFI/EFI boot, no BitLocker-encrypted volumes, OS Windows or Linux.</item>
/// <item>Failover name: see <see cref="ValidateFailoverName"/>; failover VM size and network non-empty.</item>
/// <item>Static address (optional): see <see cref="ValidateStaticAddress"/>; local target settings: see <see cref="ValidateLocal"/>.</item>
/// </list>
/// </summary>
public static class MachineValidation
{
    /// <summary>A 32-slot master target has 31 usable data-disk slots and all disks of a machine share one.</summary>
    public const int MaxDisks = Placement.CapacityLimits.MaxDisks;

    /// <summary>1023 GiB.</summary>
    public const long MaxDiskBytes = Placement.CapacityLimits.MaxDiskBytes;

    public const int MaxFailoverNameLength = 63;

    public static IReadOnlyList<ValidationFailure> Validate(MachineProperties? properties)
    {
        var failures = new List<ValidationFailure>();
        if (properties is null)
        {
            failures.Add(new(MachineValidationReason.InvalidDisk, "Properties", "Properties must be non-null"));
            return failures;
        }

        var disks = properties.Disks ?? [];
        if (disks.Count == 0)
            failures.Add(new(MachineValidationReason.NoDisks, "Disks", "Disks must contain at least 1 disk (was 0)"));
        if (disks.Count > MaxDisks)
            failures.Add(new(MachineValidationReason.TooManyDisks, "Disks",
                $"Disks must contain at most {MaxDisks} disks (was {disks.Count}): all disks of a machine go on one master target with {MaxDisks} usable data-disk slots"));

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < disks.Count; i++)
        {
            var disk = disks[i];
            if (disk is null)
            {
                failures.Add(new(MachineValidationReason.InvalidDisk, $"Disks[{i}]", $"Disks[{i}] must be non-null"));
                continue;
            }

            if (string.IsNullOrWhiteSpace(disk.DiskId))
                failures.Add(new(MachineValidationReason.InvalidDisk, $"Disks[{i}].DiskId", $"Disks[{i}].DiskId must be non-empty"));
            else if (!seen.Add(disk.DiskId))
                failures.Add(new(MachineValidationReason.DuplicateDiskId, $"Disks[{i}].DiskId",
                    $"Disks[{i}].DiskId '{disk.DiskId}' must be unique within the machine"));

            if (disk.SizeBytes <= 0)
                failures.Add(new(MachineValidationReason.InvalidDisk, $"Disks[{i}].SizeBytes", $"Disks[{i}].SizeBytes must be > 0 (was {disk.SizeBytes})"));
            else if (disk.SizeBytes > MaxDiskBytes)
                failures.Add(new(MachineValidationReason.DiskTooLarge, $"Disks[{i}].SizeBytes",
                    $"Disks[{i}].SizeBytes must be <= 1023 GiB ({MaxDiskBytes} bytes) (was {disk.SizeBytes} for disk '{disk.DiskId}')"));
        }

        if (!Enum.IsDefined(properties.Os))
            failures.Add(new(MachineValidationReason.UnsupportedOs, "Os", $"Os must be one of {string.Join(", ", Enum.GetNames<GuestOs>())} (was {properties.Os})"));
        if (properties.Clustered)
            failures.Add(new(MachineValidationReason.ClusteredServer, "Clustered", "Clustered must be false: failover-cluster nodes are not supported"));
        if (properties.BootType != BootType.Bios)
            failures.Add(new(MachineValidationReason.UefiBoot, "BootType", $"BootType must be Bios: UEFI/EFI boot is not supported (was {properties.BootType})"));
        if (properties.HasBitLockerVolumes)
            failures.Add(new(MachineValidationReason.BitLockerVolumes, "HasBitLockerVolumes", "HasBitLockerVolumes must be false: BitLocker-encrypted volumes are not supported"));

        failures.AddRange(ValidateFailoverSettings(properties.FailoverName, properties.FailoverVmSize, properties.FailoverNetwork, ""));
        failures.AddRange(ValidateStaticAddress(properties.StaticAddress));
        failures.AddRange(ValidateLocal(properties.Local));
        return failures;
    }

    /// <summary>Failover name, VM size and network; <paramref name="prefix"/> is prepended to field names (e.g. a command name).</summary>
    public static IReadOnlyList<ValidationFailure> ValidateFailoverSettings(string? name, string? vmSize, string? network, string prefix)
    {
        var failures = new List<ValidationFailure>(ValidateFailoverName(name, prefix + "FailoverName"));
        if (string.IsNullOrWhiteSpace(vmSize))
            failures.Add(new(MachineValidationReason.MissingFailoverVmSize, prefix + "FailoverVmSize", $"{prefix}FailoverVmSize must be non-empty"));
        if (string.IsNullOrWhiteSpace(network))
            failures.Add(new(MachineValidationReason.MissingFailoverNetwork, prefix + "FailoverNetwork", $"{prefix}FailoverNetwork must be non-empty"));
        return failures;
    }

    /// <summary>
    /// 1–63 characters, ASCII letters, digits and hyphens only, starting and ending with a letter or digit.
    /// Each broken rule is its own failure.
    /// </summary>
    public static IReadOnlyList<ValidationFailure> ValidateFailoverName(string? name, string field = "FailoverName")
    {
        const MachineValidationReason r = MachineValidationReason.InvalidFailoverName;
        var failures = new List<ValidationFailure>();
        if (string.IsNullOrEmpty(name))
        {
            failures.Add(new(r, field, $"{field} must be 1-{MaxFailoverNameLength} characters (was empty)"));
            return failures;
        }

        if (name.Length > MaxFailoverNameLength)
            failures.Add(new(r, field, $"{field} must be 1-{MaxFailoverNameLength} characters (was {name.Length})"));
        var bad = name.Where(ch => !IsLetterOrDigit(ch) && ch != '-').Distinct().ToList();
        if (bad.Count > 0)
            failures.Add(new(r, field, $"{field} must contain only letters, digits and hyphens (found {string.Join(" ", bad.Select(ch => $"'{ch}'"))})"));
        if (!IsLetterOrDigit(name[0]))
            failures.Add(new(r, field, $"{field} must start with a letter or digit (was '{name[0]}')"));
        if (!IsLetterOrDigit(name[^1]))
            failures.Add(new(r, field, $"{field} must end with a letter or digit (was '{name[^1]}')"));
        return failures;
    }

    /// <summary>
    /// Null = none. Otherwise a plain IPv4 address in dotted-quad form (four decimal parts 0-255) or an IPv6 address
    /// (no zone, no prefix length), neither unspecified, loopback, multicast nor the IPv4 broadcast address.
    /// </summary>
    public static IReadOnlyList<ValidationFailure> ValidateStaticAddress(string? address, string field = "StaticAddress")
    {
        if (address is null) return [];
        const MachineValidationReason r = MachineValidationReason.InvalidStaticAddress;
        if (!TryParseAddress(address, out var ip))
            return [new(r, field, $"{field} must be an IPv4 address (a.b.c.d) or an IPv6 address without zone or prefix (was '{address}')")];
        if (ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any))
            return [new(r, field, $"{field} must not be the unspecified address (was '{address}')")];
        if (System.Net.IPAddress.IsLoopback(ip))
            return [new(r, field, $"{field} must not be a loopback address (was '{address}')")];
        if (ip.IsIPv6Multicast || (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && ip.GetAddressBytes()[0] is >= 224 and <= 239))
            return [new(r, field, $"{field} must not be a multicast address (was '{address}')")];
        if (ip.Equals(System.Net.IPAddress.Broadcast))
            return [new(r, field, $"{field} must not be the broadcast address (was '{address}')")];
        return [];
    }

    private static bool TryParseAddress(string text, out System.Net.IPAddress ip)
    {
        ip = System.Net.IPAddress.None;
        if (text.Length is 0 or > 45 || text.Any(ch => !(char.IsAsciiHexDigit(ch) || ch is '.' or ':'))) return false;
        if (text.Contains(':'))
            return System.Net.IPAddress.TryParse(text, out ip!) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        // IPAddress.TryParse takes "1" or "0x7f.1" as IPv4; only the dotted quad of decimals is an address here.
        var parts = text.Split('.');
        if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) > 255))
            return false;
        return System.Net.IPAddress.TryParse(text, out ip!);
    }

    /// <summary>Memory 64..65536 MiB, 1..64 CPUs, firmware <c>bios</c> or <c>uefi</c> (lower case). Each broken rule is its own failure.</summary>
    public static IReadOnlyList<ValidationFailure> ValidateLocal(LocalComputeSettings? local, string field = "Local")
    {
        if (local is null) return [new(MachineValidationReason.InvalidLocalMemory, field, $"{field} must be non-null")];
        var failures = new List<ValidationFailure>();
        if (local.MemoryMiB is < LocalComputeSettings.MinMemoryMiB or > LocalComputeSettings.MaxMemoryMiB)
            failures.Add(new(MachineValidationReason.InvalidLocalMemory, field + ".MemoryMiB",
                $"{field}.MemoryMiB must be {LocalComputeSettings.MinMemoryMiB}..{LocalComputeSettings.MaxMemoryMiB} (was {local.MemoryMiB})"));
        if (local.Cpus is < LocalComputeSettings.MinCpus or > LocalComputeSettings.MaxCpus)
            failures.Add(new(MachineValidationReason.InvalidLocalCpus, field + ".Cpus",
                $"{field}.Cpus must be {LocalComputeSettings.MinCpus}..{LocalComputeSettings.MaxCpus} (was {local.Cpus})"));
        if (local.Firmware is not (LocalComputeSettings.Bios or LocalComputeSettings.Uefi))
            failures.Add(new(MachineValidationReason.InvalidLocalFirmware, field + ".Firmware",
                $"{field}.Firmware must be '{LocalComputeSettings.Bios}' or '{LocalComputeSettings.Uefi}' (was '{local.Firmware}')"));
        return failures;
    }

    private static bool IsLetterOrDigit(char ch) => char.IsAsciiLetterOrDigit(ch);

    /// <summary>One line listing all failures, e.g. for a rejection message.</summary>
    public static string Describe(IReadOnlyList<ValidationFailure> failures) =>
        $"{failures.Count} validation failure(s): " + string.Join("; ", failures.Select(f => $"[{f.Reason}] {f.Message}"));
}
