using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace SiteRecovery.Compute.Local;

/// <summary>
/// The qemu-system-x86_64 arguments for one recovered machine. Pure, so tests read the command line without starting qemu.
///
/// What the arguments guarantee:
/// - Disks are attached in the order given, the boot disk first, each straight from its NBD URI or its materialized image file (raw, virtio, no host cache).
/// - <c>-daemonize</c>: qemu forks, detaches into its own session and the command returns once the machine's devices are
///   open (a disk that cannot be reached fails the command, with qemu's message on stderr). The machine therefore
///   outlives the node process that started it, and <c>-pidfile</c> says which process it is.
/// - <c>-name</c> carries the instance id, so <c>/proc/PID/cmdline</c> proves a pid is this machine before it is signalled.
/// - The serial console goes to a file in the spec's work folder, so it survives the node.
/// - <c>-no-reboot</c>: a guest that reboots or panics ends the process, which a boot wait sees as an exit.
/// - A QMP control socket, <see cref="ControlSocketName"/>, relative to the folder qemu is started in (the machine's work
///   folder; qemu binds it before daemonizing changes its folder to /), so its path never outgrows a socket address.
///   Each drive's id is <see cref="DriveId"/> of its position: what a disk move names through that socket.
/// - A NIC's MAC is derived from the instance id (<see cref="Mac"/>): machines sharing a bridge never share a MAC.
/// Networks: Isolated with a tap (the machine's isolation group has a network namespace, see <see cref="IsolatedNetwork"/>)
/// is <c>-netdev tap,ifname=TAP,script=no,downscript=no</c>: qemu creates the tap in the host namespace and the target
/// moves it onto the group's bridge; no DHCP runs there, so a static address is the guest's own to configure. Isolated
/// without a tap (no group, or namespaces unusable) is qemu user-mode networking with <c>restrict=on</c> — the guest
/// reaches nothing beyond qemu's own virtual router (no route out, no forwarded ports), and not its group's other
/// machines either: the isolation is qemu's slirp refusing to forward, inside one process. Production is user-mode
/// without the restriction (outbound NAT through the host). None has no network card at all.
/// A machine with a network and a static address also gets <c>-fw_cfg name=opt/siterecovery/net,string=…</c>
/// (<see cref="GuestNet.Config"/>): its address as a /24 and its probe addresses, for a guest that reads them (on a tap
/// no DHCP runs, so this is the only way the address reaches the guest); the string is built from validated addresses.
/// </summary>
public static class QemuCommandLine
{
    /// <summary>The <c>-name</c> value: the machine's name and the instance id that proves the process is this machine.</summary>
    public static string GuestName(MachineSpec spec, string instanceId) => $"{spec.Name}.{instanceId}";

    /// <summary>The control socket's file name in the machine's work folder.</summary>
    public const string ControlSocketName = "qmp.sock";

    /// <summary>The id of the drive at <paramref name="index"/> (0: the boot disk), as QMP commands name it.</summary>
    public static string DriveId(int index) => $"disk{index.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Arguments (without the binary) that start <paramref name="spec"/> booting from <paramref name="disks"/>;
    /// <paramref name="tap"/>: the tap an Isolated machine's NIC uses (null: user-mode <c>restrict=on</c>).
    /// </summary>
    public static IReadOnlyList<string> Build(
        MachineSpec spec,
        IReadOnlyList<DiskSource> disks,
        string accelerator,
        string instanceId,
        string consolePath,
        string pidPath,
        string? ovmfPath,
        string? tap = null)
    {
        if (disks.Count == 0) throw new ArgumentException($"machine {spec.Name}: no disks to boot from", nameof(disks));
        if (accelerator != Accelerators.Kvm && accelerator != Accelerators.Tcg)
            throw new ArgumentException($"accelerator '{accelerator}' must be '{Accelerators.Kvm}' or '{Accelerators.Tcg}'", nameof(accelerator));

        var args = new List<string>
        {
            "-name", GuestName(spec, instanceId),
            // qemu's default CPU model under either accelerator: the probe boots with it, and -cpu host aborts on some
            // paravirtual KVMs (MSR 0x10a).
            "-accel", accelerator,
            "-m", spec.MemoryMiB.ToString(CultureInfo.InvariantCulture),
            "-smp", spec.Cpus.ToString(CultureInfo.InvariantCulture),
            "-display", "none",
            "-monitor", "none",
            "-no-reboot",
            "-serial", "file:" + consolePath,
            "-pidfile", pidPath,
            "-daemonize",
            "-qmp", $"unix:{ControlSocketName},server=on,wait=off",
        };
        if (spec.Firmware == LocalTargetRules.Uefi)
        {
            if (ovmfPath is null) throw new ArgumentException($"machine {spec.Name}: firmware uefi needs OVMF", nameof(ovmfPath));
            args.AddRange(["-bios", ovmfPath]);
        }
        for (var i = 0; i < disks.Count; i++)
        {
            // Commas separate qemu's suboptions; a comma inside a value is written twice.
            var drive = $"file={EscapeOption(LocalFile(disks[i].Uri) ?? disks[i].Uri)},format=raw,if=virtio,cache=none,id={DriveId(i)}";
            if (i == 0) drive += ",index=0";
            args.AddRange(["-drive", drive]);
        }
        if (tap is not null && spec.Network != NetworkMode.Isolated)
            throw new ArgumentException($"machine {spec.Name}: a tap is for an isolated network, not {spec.Network}", nameof(tap));
        args.AddRange(Network(spec, tap, Mac(instanceId)));
        if (GuestNet.Config(spec) is { } config)
            args.AddRange(["-fw_cfg", $"name={GuestNet.FwCfgName},string={EscapeOption(config)}"]);
        return args;
    }

    /// <summary>
    /// The NIC's MAC: qemu's prefix 52:54:00 (locally administered) and 3 bytes of the SHA-256 of the instance id. Without
    /// it every machine gets qemu's one default MAC, 52:54:00:12:34:56, and two machines of a group on one bridge cannot
    /// talk (seen: a guest's pings to its peer went unanswered until each had a MAC of its own).
    /// </summary>
    public static string Mac(string instanceId)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes(instanceId));
        return $"52:54:00:{h[0]:x2}:{h[1]:x2}:{h[2]:x2}";
    }

    static IEnumerable<string> Network(MachineSpec spec, string? tap, string mac)
    {
        if (spec.Network == NetworkMode.None) return ["-nic", "none"];
        var device = $"virtio-net-pci,netdev=n0,mac={mac}";
        if (tap is not null) return ["-netdev", $"tap,id=n0,ifname={EscapeOption(tap)},script=no,downscript=no", "-device", device];
        var netdev = "user,id=n0";
        if (spec.Network == NetworkMode.Isolated) netdev += ",restrict=on";
        if (spec.StaticAddress is { } address)
        {
            // User-mode DHCP hands out dhcpstart first: the machine's only lease is its static address.
            var b = IPAddress.Parse(address).GetAddressBytes();
            netdev += $",net={b[0]}.{b[1]}.{b[2]}.0/24,dhcpstart={address}";
        }
        return ["-netdev", netdev, "-device", device];
    }

    /// <summary>The tap named in a <c>-netdev tap,…,ifname=TAP</c> of a command line, or null.</summary>
    public static string? TapOf(IReadOnlyList<string> args) =>
        args.Zip(args.Skip(1)).Where(p => p.First == "-netdev" && p.Second.StartsWith("tap,", StringComparison.Ordinal))
            .SelectMany(p => p.Second.Split(','))
            .Where(o => o.StartsWith("ifname=", StringComparison.Ordinal))
            .Select(o => o["ifname=".Length..])
            .FirstOrDefault();

    /// <summary>
    /// The path of a <c>file://</c> URI naming an existing image (a disk materialized before the boot, for a failover whose
    /// machine must outlive the node that serves points), or null.
    /// </summary>
    public static string? LocalFile(string uri) =>
        Uri.TryCreate(uri, UriKind.Absolute, out var u) && u.IsFile && uri.StartsWith("file://", StringComparison.Ordinal) && File.Exists(u.LocalPath) ? u.LocalPath : null;

    static string EscapeOption(string value) => value.Replace(",", ",,", StringComparison.Ordinal);
}

/// <summary>The accelerators the local target runs with.</summary>
public static class Accelerators
{
    public const string Kvm = "kvm";
    public const string Tcg = "tcg";
}
