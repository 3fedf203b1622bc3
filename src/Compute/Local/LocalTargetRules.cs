using System.Net;
using System.Net.Sockets;

namespace SiteRecovery.Compute.Local;

/// <summary>What a machine spec must satisfy to run under qemu on this node. Pure: the host facts come in as arguments.</summary>
public static class LocalTargetRules
{
    public const int NameMaxLength = 63;
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 65536;
    public const int MinCpus = 1;
    public const int MaxCpus = 64;
    public const string Bios = "bios";
    public const string Uefi = "uefi";

    /// <summary>
    /// Every reason <paramref name="spec"/> cannot run, each naming its field and the rule. <paramref name="hostMemoryMiB"/>:
    /// the host's memory; <paramref name="ovmfPath"/>: the OVMF firmware found on the host, or null.
    /// </summary>
    public static IReadOnlyList<string> Validate(MachineSpec spec, long hostMemoryMiB, string? ovmfPath)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(spec.MachineId))
            problems.Add("MachineId: must not be empty");
        if (!IsValidName(spec.Name))
            problems.Add($"Name: '{spec.Name}' must be 1–{NameMaxLength} characters of A-Z, a-z, 0-9 and '-', not starting or ending with '-'");
        if (spec.MemoryMiB < MinMemoryMiB || spec.MemoryMiB > MaxMemoryMiB)
            problems.Add($"MemoryMiB: {spec.MemoryMiB} must be between {MinMemoryMiB} and {MaxMemoryMiB}");
        else if (spec.MemoryMiB > hostMemoryMiB)
            problems.Add($"MemoryMiB: {spec.MemoryMiB} is more than this host's {hostMemoryMiB} MiB");
        if (spec.Cpus < MinCpus || spec.Cpus > MaxCpus)
            problems.Add($"Cpus: {spec.Cpus} must be between {MinCpus} and {MaxCpus}");
        if (spec.Firmware != Bios && spec.Firmware != Uefi)
            problems.Add($"Firmware: '{spec.Firmware}' must be '{Bios}' or '{Uefi}'");
        else if (spec.Firmware == Uefi && ovmfPath is null)
            problems.Add($"Firmware: '{Uefi}' needs OVMF, which is not installed on this host (apt-get install ovmf)");
        if (!Enum.IsDefined(spec.Network))
            problems.Add($"Network: {(int)spec.Network} is not a network mode");
        if (spec.StaticAddress is not null)
        {
            if (spec.Network == NetworkMode.None)
                problems.Add("StaticAddress: a machine with Network None has no interface to address");
            else if (StaticAddressProblem(spec.StaticAddress) is { } why)
                problems.Add($"StaticAddress: '{spec.StaticAddress}' {why}");
        }
        foreach (var (field, probes) in new[] { ("GuestProbes", spec.GuestProbes), ("GuestOutside", spec.GuestOutside) })
        {
            if (probes is not { Count: > 0 }) continue;
            if (spec.StaticAddress is null || spec.Network == NetworkMode.None)
                problems.Add($"{field}: a guest needs a network and a StaticAddress to send its probes from");
            foreach (var probe in probes.Where(p => GuestNet.ProbeProblem(p) is not null))
                problems.Add($"{field}: '{probe}' {GuestNet.ProbeProblem(probe)}");
        }
        if ((spec.GuestProbes?.Count ?? 0) + (spec.GuestOutside?.Count ?? 0) is var all && all > GuestNet.MaxProbes)
            problems.Add($"{(spec.GuestOutside is { Count: > 0 } ? "GuestProbes and GuestOutside" : "GuestProbes")}: {all} addresses, at most {GuestNet.MaxProbes}");
        if (string.IsNullOrWhiteSpace(spec.WorkDirectory))
            problems.Add("WorkDirectory: must name a folder");
        return problems;
    }

    /// <summary>Name rule: 1–63 of <c>[A-Za-z0-9-]</c>, not starting or ending with '-'.</summary>
    public static bool IsValidName(string? name) =>
        name is { Length: > 0 and <= NameMaxLength }
        && name[0] != '-' && name[^1] != '-'
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');

    /// <summary>
    /// Without a tap the local target's network is qemu user-mode: it hands the address out by DHCP from a /24 of its
    /// own, where .2 is the host and .3 the DNS forwarder. On an isolated group's bridge nobody runs DHCP: the address
    /// (as a /24, <see cref="GuestNet.PrefixLength"/>) reaches the guest through fw_cfg (<see cref="GuestNet"/>), and the
    /// same rule keeps one address valid on either network. Assignable: IPv4 with the last byte 4..254.
    /// </summary>
    static string? StaticAddressProblem(string address)
    {
        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork)
            return "must be an IPv4 address (the local target hands it out by DHCP)";
        var last = ip.GetAddressBytes()[3];
        return last is < 4 or > 254 ? "must end in 4..254 (.0-.3 and .255 belong to qemu's user-mode network)" : null;
    }
}
