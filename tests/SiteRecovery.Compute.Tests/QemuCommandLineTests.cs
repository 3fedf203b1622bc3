using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

public class QemuCommandLineTests
{
    static readonly MachineSpec Spec = new("m-1", "web-01", 768, 2, "bios", NetworkMode.Isolated, null, "/srv/m-1");
    static readonly DiskSource Boot = new("d-boot", "nbd://127.0.0.1:10809/boot", 64 << 20);
    static readonly DiskSource Data = new("d-data", "nbd://127.0.0.1:10810/data", 1 << 30);

    static IReadOnlyList<string> Build(MachineSpec? spec = null, IReadOnlyList<DiskSource>? disks = null, string accel = "tcg", string? ovmf = null) =>
        QemuCommandLine.Build(spec ?? Spec, disks ?? [Boot, Data], accel, "sr-0123456789abcdef", "/srv/m-1/console.log", "/srv/m-1/qemu.pid", ovmf);

    /// <summary>The value after each occurrence of <paramref name="option"/>.</summary>
    static List<string> Values(IReadOnlyList<string> args, string option) =>
        args.Zip(args.Skip(1)).Where(p => p.First == option).Select(p => p.Second).ToList();

    [Fact]
    public void Disks_are_attached_in_order_from_their_nbd_uris_boot_disk_first()
    {
        Assert.Equal(
            ["file=nbd://127.0.0.1:10809/boot,format=raw,if=virtio,cache=none,id=disk0,index=0", "file=nbd://127.0.0.1:10810/data,format=raw,if=virtio,cache=none,id=disk1"],
            Values(Build(), "-drive"));
    }

    [Fact]
    public void A_materialized_image_is_attached_by_its_path()
    {
        var image = Path.Combine(Path.GetTempPath(), $"sr-cmdline-{Guid.NewGuid():n}.img");
        File.WriteAllBytes(image, new byte[512]);
        try
        {
            var local = Boot with { Uri = new Uri(image).AbsoluteUri };
            Assert.Equal($"file={image},format=raw,if=virtio,cache=none,id=disk0,index=0", Assert.Single(Values(Build(disks: [local]), "-drive")));
            Assert.Equal(image, QemuCommandLine.LocalFile(local.Uri));
            Assert.Null(QemuCommandLine.LocalFile(image)); // a bare path is not a file:// URI
            Assert.Null(QemuCommandLine.LocalFile("file:///nonexistent/x.img"));
        }
        finally { File.Delete(image); }
    }

    [Fact]
    public void A_comma_in_a_uri_is_doubled_so_qemu_does_not_split_it()
    {
        var odd = Boot with { Uri = "nbd://127.0.0.1:10809/a,b" };
        Assert.Equal("file=nbd://127.0.0.1:10809/a,,b,format=raw,if=virtio,cache=none,id=disk0,index=0", Assert.Single(Values(Build(disks: [odd]), "-drive")));
    }

    [Fact]
    public void Size_console_pidfile_and_daemon_options()
    {
        var args = Build();
        Assert.Equal(["768"], Values(args, "-m"));
        Assert.Equal(["2"], Values(args, "-smp"));
        Assert.Equal(["none"], Values(args, "-display"));
        Assert.Equal(["file:/srv/m-1/console.log"], Values(args, "-serial"));
        Assert.Equal(["/srv/m-1/qemu.pid"], Values(args, "-pidfile"));
        Assert.Contains("-daemonize", args);
        Assert.Contains("-no-reboot", args);
        // Relative to the work folder qemu starts in, so no folder depth outgrows a socket address.
        Assert.Equal(["unix:qmp.sock,server=on,wait=off"], Values(args, "-qmp"));
        Assert.DoesNotContain("-bios", args);
    }

    [Fact]
    public void The_name_carries_the_instance_id()
    {
        Assert.Equal(["web-01.sr-0123456789abcdef"], Values(Build(), "-name"));
        Assert.Equal("web-01.sr-0123456789abcdef", QemuCommandLine.GuestName(Spec, "sr-0123456789abcdef"));
    }

    [Theory]
    [InlineData("tcg")]
    [InlineData("kvm")]
    public void The_accelerator_is_given_and_the_cpu_model_left_at_qemus_default(string accel)
    {
        var args = Build(accel: accel);
        Assert.Equal([accel], Values(args, "-accel"));
        Assert.DoesNotContain("-cpu", args);
        Assert.DoesNotContain("-enable-kvm", args);
    }

    [Fact]
    public void Unknown_accelerator_and_no_disks_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Build(accel: "hvf"));
        Assert.Throws<ArgumentException>(() => Build(disks: []));
    }

    [Fact]
    public void Isolated_network_is_restricted_user_mode()
    {
        var args = Build();
        Assert.Equal(["user,id=n0,restrict=on"], Values(args, "-netdev"));
        Assert.Equal([$"virtio-net-pci,netdev=n0,mac={QemuCommandLine.Mac("sr-0123456789abcdef")}"], Values(args, "-device"));
        Assert.DoesNotContain("-nic", args);
    }

    [Fact]
    public void Production_network_is_unrestricted_user_mode()
    {
        var args = Build(Spec with { Network = NetworkMode.Production });
        Assert.Equal(["user,id=n0"], Values(args, "-netdev"));
        Assert.Equal([$"virtio-net-pci,netdev=n0,mac={QemuCommandLine.Mac("sr-0123456789abcdef")}"], Values(args, "-device"));
    }

    [Fact]
    public void Each_instance_has_a_mac_of_its_own_not_qemus_default()
    {
        var mac = QemuCommandLine.Mac("sr-0123456789abcdef");
        Assert.Matches("^52:54:00(:[0-9a-f]{2}){3}$", mac);
        Assert.NotEqual("52:54:00:12:34:56", mac);
        Assert.Equal(mac, QemuCommandLine.Mac("sr-0123456789abcdef"));
        Assert.NotEqual(mac, QemuCommandLine.Mac("sr-0123456789abcdee"));
    }

    [Fact]
    public void No_network_means_no_card()
    {
        var args = Build(Spec with { Network = NetworkMode.None });
        Assert.Equal(["none"], Values(args, "-nic"));
        Assert.Empty(Values(args, "-netdev"));
        Assert.Empty(Values(args, "-device"));
    }

    [Fact]
    public void A_static_address_is_the_first_dhcp_lease_of_its_own_24()
    {
        var args = Build(Spec with { StaticAddress = "192.168.50.10" });
        Assert.Equal(["user,id=n0,restrict=on,net=192.168.50.0/24,dhcpstart=192.168.50.10"], Values(args, "-netdev"));
    }

    [Fact]
    public void A_static_address_and_the_probes_reach_the_guest_through_fw_cfg_on_a_tap_or_user_mode()
    {
        var spec = Spec with { StaticAddress = "198.18.7.11", GuestProbes = ["198.18.7.12", "198.18.7.1"] };
        const string want = "name=opt/siterecovery/net,string=addr=198.18.7.11/24 probe=198.18.7.12 probe=198.18.7.1";
        Assert.Equal([want], Values(Build(spec), "-fw_cfg"));
        var tapped = QemuCommandLine.Build(spec, [Boot], "tcg", "sr-0123456789abcdef", "/c.log", "/q.pid", null, "srt0123456789ab");
        Assert.Equal([want], Values(tapped, "-fw_cfg"));
        Assert.Equal(["name=opt/siterecovery/net,string=addr=198.18.7.11/24"], Values(Build(spec with { GuestProbes = null }), "-fw_cfg"));
    }

    [Fact]
    public void Without_a_static_address_or_a_card_the_guest_is_given_nothing()
    {
        Assert.Empty(Values(Build(), "-fw_cfg"));
        Assert.Empty(Values(Build(Spec with { GuestProbes = ["198.18.7.12"] }), "-fw_cfg"));
        Assert.Empty(Values(Build(Spec with { StaticAddress = "198.18.7.11", Network = NetworkMode.None }), "-fw_cfg"));
    }

    [Fact]
    public void Uefi_boots_ovmf()
    {
        Assert.Equal(["/usr/share/ovmf/OVMF.fd"], Values(Build(Spec with { Firmware = "uefi" }, ovmf: "/usr/share/ovmf/OVMF.fd"), "-bios"));
        Assert.Throws<ArgumentException>(() => Build(Spec with { Firmware = "uefi" }, ovmf: null));
    }
}
