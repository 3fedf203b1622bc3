using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

public class LocalTargetRulesTests
{
    static readonly MachineSpec Good = new("m-1", "web-01", 512, 2, "bios", NetworkMode.Isolated, null, "/tmp/m-1");

    static IReadOnlyList<string> Check(MachineSpec spec, long hostMiB = 8192, string? ovmf = null) => LocalTargetRules.Validate(spec, hostMiB, ovmf);

    [Fact]
    public void A_good_spec_has_no_problems()
    {
        Assert.Empty(Check(Good));
        Assert.Empty(Check(Good with { Firmware = "uefi" }, ovmf: "/usr/share/ovmf/OVMF.fd"));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("web-01")]
    [InlineData("A1-b2-C3")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk")] // 63
    public void Names_that_pass(string name) => Assert.Empty(Check(Good with { Name = name }));

    [Theory]
    [InlineData("")]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("web_01")]
    [InlineData("web.01")]
    [InlineData("web 01")]
    [InlineData("wéb")]
    [InlineData("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl")] // 64
    public void Names_that_fail_name_the_field_and_the_rule(string name)
    {
        var problem = Assert.Single(Check(Good with { Name = name }));
        Assert.StartsWith("Name:", problem);
        Assert.Contains("1–63", problem);
        Assert.Contains("not starting or ending with '-'", problem);
    }

    [Theory]
    [InlineData(63, "between 64 and 65536")]
    [InlineData(65537, "between 64 and 65536")]
    [InlineData(0, "between 64 and 65536")]
    public void Memory_out_of_range(int mib, string rule)
    {
        var problem = Assert.Single(Check(Good with { MemoryMiB = mib }, hostMiB: 1 << 20));
        Assert.StartsWith("MemoryMiB:", problem);
        Assert.Contains(rule, problem);
    }

    [Fact]
    public void Memory_above_the_host_is_refused_and_up_to_it_is_not()
    {
        var problem = Assert.Single(Check(Good with { MemoryMiB = 4097 }, hostMiB: 4096));
        Assert.Equal("MemoryMiB: 4097 is more than this host's 4096 MiB", problem);
        Assert.Empty(Check(Good with { MemoryMiB = 4096 }, hostMiB: 4096));
        Assert.Empty(Check(Good with { MemoryMiB = 64 }, hostMiB: 4096));
        Assert.Empty(Check(Good with { MemoryMiB = 65536 }, hostMiB: 1 << 20));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    [InlineData(-1)]
    public void Cpus_out_of_range(int cpus)
    {
        var problem = Assert.Single(Check(Good with { Cpus = cpus }));
        Assert.Equal($"Cpus: {cpus} must be between 1 and 64", problem);
    }

    [Fact]
    public void Cpus_at_the_bounds_pass()
    {
        Assert.Empty(Check(Good with { Cpus = 1 }));
        Assert.Empty(Check(Good with { Cpus = 64 }));
    }

    [Fact]
    public void Firmware_must_be_bios_or_uefi_and_uefi_needs_ovmf()
    {
        Assert.Equal("Firmware: 'efi' must be 'bios' or 'uefi'", Assert.Single(Check(Good with { Firmware = "efi" })));
        Assert.Equal("Firmware: 'BIOS' must be 'bios' or 'uefi'", Assert.Single(Check(Good with { Firmware = "BIOS" })));
        var uefi = Assert.Single(Check(Good with { Firmware = "uefi" }, ovmf: null));
        Assert.StartsWith("Firmware: 'uefi' needs OVMF", uefi);
    }

    [Fact]
    public void Static_addresses_the_user_mode_network_can_hand_out()
    {
        Assert.Empty(Check(Good with { StaticAddress = "192.168.50.10" }));
        Assert.Empty(Check(Good with { StaticAddress = "10.0.2.254", Network = NetworkMode.Production }));
        Assert.StartsWith("StaticAddress: 'fe80::1' must be an IPv4", Assert.Single(Check(Good with { StaticAddress = "fe80::1" })));
        Assert.StartsWith("StaticAddress: 'web' must be an IPv4", Assert.Single(Check(Good with { StaticAddress = "web" })));
        Assert.StartsWith("StaticAddress: '10.0.2.2' must end in 4..254", Assert.Single(Check(Good with { StaticAddress = "10.0.2.2" })));
        Assert.StartsWith("StaticAddress: '10.0.2.255' must end in 4..254", Assert.Single(Check(Good with { StaticAddress = "10.0.2.255" })));
        Assert.Equal("StaticAddress: a machine with Network None has no interface to address",
            Assert.Single(Check(Good with { StaticAddress = "10.0.2.15", Network = NetworkMode.None })));
    }

    [Fact]
    public void Probe_addresses_are_ipv4_at_most_eight_and_need_an_address_to_send_from()
    {
        var sender = Good with { StaticAddress = "198.18.7.11" };
        Assert.Empty(Check(sender with { GuestProbes = ["198.18.7.12", "198.18.7.1"] }));
        Assert.Empty(Check(sender with { GuestProbes = [] }));
        Assert.Equal("GuestProbes: 'fe80::1' must be an IPv4 address in dotted form", Assert.Single(Check(sender with { GuestProbes = ["fe80::1"] })));
        // Each word goes into the guest's fw_cfg line and its shell: nothing but the address itself passes.
        Assert.Equal("GuestProbes: '198.18.7.12 probe=1.2.3.4' must be an IPv4 address in dotted form",
            Assert.Single(Check(sender with { GuestProbes = ["198.18.7.12 probe=1.2.3.4"] })));
        Assert.Equal("GuestProbes: '010.1.1.1' must be an IPv4 address in dotted form", Assert.Single(Check(sender with { GuestProbes = ["010.1.1.1"] })));
        Assert.Equal("GuestProbes: 9 addresses, at most 8",
            Assert.Single(Check(sender with { GuestProbes = Enumerable.Range(1, 9).Select(i => $"198.18.7.{i}").ToList() })));
        Assert.Equal("GuestProbes: a guest needs a network and a StaticAddress to send its probes from",
            Assert.Single(Check(Good with { GuestProbes = ["198.18.7.12"] })));
    }

    [Fact]
    public void Outside_addresses_are_checked_as_probes_and_count_with_them()
    {
        var sender = Good with { StaticAddress = "198.18.7.11" };
        Assert.Empty(Check(sender with { GuestProbes = ["198.18.7.12"], GuestOutside = ["198.18.7.1"] }));
        Assert.Equal("GuestOutside: '198.18.7.1 probe=1.2.3.4' must be an IPv4 address in dotted form",
            Assert.Single(Check(sender with { GuestOutside = ["198.18.7.1 probe=1.2.3.4"] })));
        Assert.Equal("GuestProbes and GuestOutside: 9 addresses, at most 8",
            Assert.Single(Check(sender with { GuestProbes = Enumerable.Range(2, 7).Select(i => $"198.18.7.{i}").ToList(), GuestOutside = ["198.18.7.1", "198.18.7.9"] })));
        Assert.Equal("GuestOutside: a guest needs a network and a StaticAddress to send its probes from",
            Assert.Single(Check(Good with { GuestOutside = ["198.18.7.1"] })));
    }

    [Fact]
    public void Every_broken_rule_is_reported_at_once()
    {
        var problems = Check(new MachineSpec("", "-x", 10, 0, "efi", (NetworkMode)9, null, " "));
        Assert.Equal(["MachineId:", "Name:", "MemoryMiB:", "Cpus:", "Firmware:", "Network:", "WorkDirectory:"], problems.Select(p => p[..(p.IndexOf(':') + 1)]));
    }

    [Fact]
    public void The_target_validates_with_this_hosts_facts()
    {
        var target = new LocalQemuTarget(new LocalTargetOptions { HostMemoryMiB = 1024, OvmfPath = "/nonexistent/OVMF.fd" });
        Assert.Equal(["MemoryMiB: 2048 is more than this host's 1024 MiB", "Firmware: 'uefi' needs OVMF, which is not installed on this host (apt-get install ovmf)"],
            target.Validate(Good with { MemoryMiB = 2048, Firmware = "uefi" }));
    }
}

public class LocalQemuTargetArgumentTests
{
    static readonly MachineSpec Spec = new("m-1", "web-01", 256, 1, "bios", NetworkMode.None, null, Path.Combine(Path.GetTempPath(), "sr-never-created"));

    [Fact]
    public async Task A_spec_that_breaks_a_rule_is_refused_before_qemu_runs_naming_every_rule()
    {
        var target = new LocalQemuTarget(new LocalTargetOptions { QemuBinary = "/nonexistent/qemu" });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => target.StartAsync(Spec with { Name = "-bad", Cpus = 0 }, [new DiskSource("d", "nbd://127.0.0.1:1/x", 1)], CancellationToken.None));
        Assert.Contains("Name: '-bad'", e.Message);
        Assert.Contains("Cpus: 0 must be between 1 and 64", e.Message);
        Assert.False(Directory.Exists(Spec.WorkDirectory));
    }

    [Fact]
    public async Task Disks_must_be_given_and_served_over_nbd()
    {
        var target = new LocalQemuTarget(new LocalTargetOptions { QemuBinary = "/nonexistent/qemu" });
        var none = await Assert.ThrowsAsync<ArgumentException>(() => target.StartAsync(Spec, [], CancellationToken.None));
        Assert.Contains("no disks to boot from", none.Message);
        var file = await Assert.ThrowsAsync<ArgumentException>(() => target.StartAsync(Spec, [new DiskSource("d-1", "/var/lib/disk.img", 1)], CancellationToken.None));
        Assert.Contains("disk d-1 at '/var/lib/disk.img' is not an NBD URI", file.Message);
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => target.StartAsync(Spec, [new DiskSource("d-2", "file:///nonexistent/disk.img", 1)], CancellationToken.None));
        Assert.Contains("nor a file:// URI of an existing image", missing.Message);
        Assert.False(Directory.Exists(Spec.WorkDirectory));
    }
}
