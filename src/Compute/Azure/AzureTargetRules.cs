using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SiteRecovery.Compute.Azure;

/// <summary>One VM size of a region, as Azure Resource Manager lists it.</summary>
public sealed record AzureVmSize(string Name, int Cores, int MemoryMiB);

/// <summary>
/// What the Azure target checks before it asks Azure for anything, and how it names what it creates: pure, so every
/// rule is a table in the tests. Names follow Azure's rules for the resource type (a VM: 1–64 letters, digits and
/// hyphens, not starting or ending with a hyphen, the subset that is valid for Linux and Windows machines alike; a managed
/// disk or a NIC: 1–80 letters, digits, '_', '.', '-', starting with a letter or digit, ending with one or '_').
/// Every name is derived from the machine's failover name and its work directory, never drawn at random, so a saga
/// that repeats a start after a node kill asks for the same resources again and finds them.
/// </summary>
public static partial class AzureTargetRules
{
    public const int MaxVmName = 64;
    public const int MaxResourceName = 80;

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")]
    private static partial Regex VmNamePattern();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")]
    private static partial Regex ResourceNamePattern();

    [GeneratedRegex("^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.Network/virtualNetworks/[^/]+/subnets/[^/]+$", RegexOptions.IgnoreCase)]
    private static partial Regex SubnetIdPattern();

    /// <summary>Every reason <paramref name="spec"/> cannot run on the Azure target, each naming its field; empty when it can.</summary>
    public static IReadOnlyList<string> Validate(MachineSpec spec, AzureTargetOptions options)
    {
        var problems = new List<string>();
        if (VmNameProblem(spec.Name) is { } name) problems.Add($"Name: '{spec.Name}' {name}");
        if (spec.Cpus < 1) problems.Add($"Cpus: {spec.Cpus} must be at least 1");
        // A named size brings its own memory; the spec's counts only when the target picks one.
        if (spec.VmSize is null && spec.MemoryMiB < 512) problems.Add($"MemoryMiB: {spec.MemoryMiB} is below the smallest Azure size's 512 MiB");
        if (spec.Firmware is not ("bios" or "uefi")) problems.Add($"Firmware: '{spec.Firmware}' must be bios (a generation 1 machine) or uefi (generation 2)");
        if (spec.Network == NetworkMode.None) problems.Add("Network: an Azure machine always has a NIC; choose Isolated (a test failover) or Production");
        var subnet = spec.Network == NetworkMode.Isolated ? options.IsolatedSubnetId : options.ProductionSubnetId;
        var which = spec.Network == NetworkMode.Isolated ? "isolated-subnet-id" : "production-subnet-id";
        if (spec.Network != NetworkMode.None && !SubnetIdPattern().IsMatch(subnet ?? ""))
            problems.Add($"Network: the target's {which} '{subnet}' is not a subnet's ARM id (/subscriptions/…/virtualNetworks/…/subnets/…)");
        if (spec.StaticAddress is { } address && !System.Net.IPAddress.TryParse(address, out _))
            problems.Add($"StaticAddress: '{address}' is not an IP address");
        if (spec.GuestProbes is { Count: > 0 } || spec.GuestOutside is { Count: > 0 })
            problems.Add("GuestProbes: the Azure target hands a guest no hints (a drill's isolation there is the isolated subnet's, not proven by the guest's packets)");
        return problems;
    }

    /// <summary>Why <paramref name="name"/> cannot name an Azure VM, or null.</summary>
    public static string? VmNameProblem(string name) =>
        name.Length is < 1 or > MaxVmName ? $"must be 1..{MaxVmName} characters"
        : !VmNamePattern().IsMatch(name) ? "may hold only letters, digits and '-', and must start and end with a letter or digit"
        : null;

    /// <summary>Why <paramref name="name"/> cannot name a managed disk or a NIC, or null.</summary>
    public static string? ResourceNameProblem(string name) =>
        name.Length is < 1 or > MaxResourceName ? $"must be 1..{MaxResourceName} characters"
        : !ResourceNamePattern().IsMatch(name) ? "may hold only letters, digits, '_', '.' and '-', start with a letter or digit and end with one or '_'"
        : null;

    /// <summary>
    /// The VM's name: the failover name for a planned or unplanned failover (the machine takes its place), and for a
    /// test failover the failover name with <c>-test-</c> and six hex digits of its work directory (the job and the
    /// machine), so a drill runs beside production and beside another drill of the same machine.
    /// </summary>
    public static string VmName(MachineSpec spec)
    {
        if (spec.Network != NetworkMode.Isolated) return spec.Name;
        var suffix = "-test-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(spec.WorkDirectory))))[..6];
        return spec.Name[..Math.Min(spec.Name.Length, MaxVmName - suffix.Length)].TrimEnd('-') + suffix;
    }

    /// <summary>The managed disk made of the machine's disk number <paramref name="index"/> (0: the OS disk).</summary>
    public static string DiskName(string vmName, int index) => $"{vmName}-disk{index}";

    public static string NicName(string vmName) => $"{vmName}-nic";

    /// <summary>
    /// The smallest size of <paramref name="sizes"/> with at least <paramref name="cpus"/> cores and
    /// <paramref name="memoryMiB"/> of memory: fewest cores, then least memory, then by name; null when none has both.
    /// </summary>
    public static AzureVmSize? PickSize(IEnumerable<AzureVmSize> sizes, int cpus, int memoryMiB) =>
        sizes.Where(s => s.Cores >= cpus && s.MemoryMiB >= memoryMiB)
            .OrderBy(s => s.Cores).ThenBy(s => s.MemoryMiB).ThenBy(s => s.Name, StringComparer.Ordinal)
            .FirstOrDefault();

    /// <summary>
    /// Why <paramref name="uri"/> cannot be imported as a managed disk, or null: it must be a page blob (or its snapshot)
    /// under <paramref name="blobEndpoint"/>, the target's storage account (any https blob URI when that is null).
    /// </summary>
    public static string? ImportSourceProblem(string uri, Uri? blobEndpoint = null)
    {
        var parsed = Uri.TryCreate(uri, UriKind.Absolute, out var u) && u.AbsolutePath.Count(c => c == '/') >= 2;
        if (blobEndpoint is null)
            return parsed && u!.Scheme == Uri.UriSchemeHttps ? null : "must be the https URI of a page blob (a replica or its snapshot) in the target's storage account";
        var root = blobEndpoint.AbsoluteUri.TrimEnd('/') + "/";
        return parsed && u!.AbsoluteUri.StartsWith(root, StringComparison.OrdinalIgnoreCase) && u.AbsoluteUri.Length > root.Length
            ? null
            : $"must be the URI of a page blob (a replica or its snapshot) of the target's storage account, under {root}";
    }

    /// <summary>
    /// The VM size for a machine: <paramref name="vmSize"/> when it names one of <paramref name="sizes"/> (case as Azure
    /// spells it), else the smallest that fits (<see cref="PickSize"/>); the error names what was asked and what is offered.
    /// </summary>
    public static (AzureVmSize? Size, string? Error) ChooseSize(IReadOnlyList<AzureVmSize> sizes, string? vmSize, int cpus, int memoryMiB, string location)
    {
        if (vmSize is { Length: > 0 })
            return sizes.FirstOrDefault(s => s.Name.Equals(vmSize, StringComparison.OrdinalIgnoreCase)) is { } named
                ? (named, null)
                : (null, $"VmSize: '{vmSize}' is not offered in {location} (offered: {string.Join(", ", sizes.Select(s => s.Name).Order(StringComparer.Ordinal))})");
        return PickSize(sizes, cpus, memoryMiB) is { } picked
            ? (picked, null)
            : (null, $"no VM size in {location} has {cpus} cores and {memoryMiB} MiB");
    }
}
