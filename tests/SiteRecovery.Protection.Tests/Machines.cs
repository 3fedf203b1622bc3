using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Protection.Tests;

/// <summary>Builders of machine properties for the tests.</summary>
internal static class Machines
{
    public const long GiB = 1L << 30;

    public static MachineDisk[] Disks(int count, long size = 10 * GiB) =>
        Enumerable.Range(0, count).Select(i => new MachineDisk($"disk{i}", size)).ToArray();

    public static MachineProperties Valid(int disks = 2, GuestOs os = GuestOs.Linux, string failoverName = "vm-1") =>
        new("vm-1", os, Disks(disks), BootType.Bios, false, false, failoverName, "Standard_D2s", "net-a");
}
