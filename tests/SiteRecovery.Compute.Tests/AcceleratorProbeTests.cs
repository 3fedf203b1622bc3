using SiteRecovery.Compute.Local;

namespace SiteRecovery.Compute.Tests;

/// <summary>The probe's decision against stand-in qemu binaries, and against the real one on this host.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AcceleratorProbeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("sr-probe-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A stand-in for qemu: finds the debug console's file in its arguments and runs <paramref name="body"/>.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    string FakeQemu(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, $$"""
            #!/bin/bash
            dbg=""
            for a in "$@"; do case "$a" in file,id=dbg,path=*) dbg="${a#file,id=dbg,path=}" ;; esac; done
            {{body}}
            """);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public async Task The_boot_sector_finishing_under_kvm_chooses_kvm()
    {
        var qemu = FakeQemu("good", """printf 'SeaBIOS (version x)\nBooting from 0000:7c00\nSR-KVM-PROBE-OK\n' > "$dbg"; sleep 30""");
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(10));
        Assert.Equal("kvm", choice.Accelerator);
        Assert.Contains("boot sector ran through protected mode", choice.Reason);
    }

    [Fact]
    public async Task SeaBios_finishing_without_the_boot_sector_reporting_chooses_tcg()
    {
        // What this host's paravirtual KVM does: SeaBIOS gets through and hands over, the sector's code dies in emulation.
        var qemu = FakeQemu("seabios-only", """printf 'SeaBIOS (version x)\nNo bootable device.\nBooting from 0000:7c00\n' > "$dbg"; sleep 30""");
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(1));
        Assert.Equal("tcg", choice.Accelerator);
        Assert.Contains("did not finish within 1 s", choice.Reason);
    }

    [Fact]
    public async Task The_probe_disk_is_the_assembled_boot_sector()
    {
        Assert.Equal(512, AcceleratorProbe.BootSector.Length);
        Assert.Equal([0x55, 0xAA], AcceleratorProbe.BootSector[510..]);
        // The bytes are what the source in the repository assembles to (checked where binutils are installed, as here).
        var source = Path.Combine(SiteRecovery.TestSupport.RepoRoot.Path, "src", "Compute", "Local", "KvmProbeBootSector.S");
        var asm = SiteRecovery.Contracts.Processes.BoundedProcess.FindCommand("as");
        var ld = SiteRecovery.Contracts.Processes.BoundedProcess.FindCommand("ld");
        Assert.True(asm is not null && ld is not null, "binutils (as, ld) are not installed: run tests/setup.sh");
        var obj = Path.Combine(_dir, "probe.o");
        var bin = Path.Combine(_dir, "probe.bin");
        await SiteRecovery.Contracts.Processes.ExternalTool.RunOkAsync(asm, ["--32", "-o", obj, source], TimeSpan.FromMinutes(1));
        await SiteRecovery.Contracts.Processes.ExternalTool.RunOkAsync(ld, ["-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", bin, obj], TimeSpan.FromMinutes(1));
        Assert.Equal(await File.ReadAllBytesAsync(bin), AcceleratorProbe.BootSector);
    }

    [Fact]
    public async Task The_boot_sector_itself_finishes_under_tcg()
    {
        // The probe's sector is a real program: under TCG (which emulates everything) it reaches its marker.
        var qemu = SiteRecovery.Contracts.Processes.BoundedProcess.FindCommand("qemu-system-x86_64");
        Assert.True(qemu is not null, "qemu-system-x86_64 is not installed: run tests/setup.sh");
        var disk = Path.Combine(_dir, "sector.img");
        var log = Path.Combine(_dir, "dbg.log");
        await File.WriteAllBytesAsync(disk, AcceleratorProbe.BootSector);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = SiteRecovery.Contracts.Processes.BoundedProcess.RunAsync(qemu, ["-accel", "tcg", "-m", "64", "-display", "none", "-monitor", "none", "-nodefaults",
            "-no-reboot", "-chardev", $"file,id=dbg,path={log}", "-device", "isa-debugcon,iobase=0x402,chardev=dbg", "-drive", $"file={disk},format=raw,if=ide"],
            null, TimeSpan.FromSeconds(60), stop.Token);
        while (!run.IsCompleted && !(File.Exists(log) && File.ReadAllText(log).Contains("SR-KVM-PROBE-OK"))) await Task.Delay(100);
        await stop.CancelAsync();
        try { await run; } catch (OperationCanceledException) { }
        Assert.Contains("SR-KVM-PROBE-OK", File.ReadAllText(log));
    }

    [Fact]
    public async Task A_kvm_internal_error_chooses_tcg_even_when_the_sector_printed()
    {
        var qemu = FakeQemu("pvm", """echo 'KVM internal error. Suberror: 1' >&2; echo 'emulation failure' >&2; printf 'SR-KVM-PROBE-OK\n' > "$dbg"; sleep 30""");
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(10));
        Assert.Equal("tcg", choice.Accelerator);
        Assert.Contains("KVM failure", choice.Reason);
    }

    [Fact]
    public async Task Qemu_exiting_chooses_tcg_with_its_message()
    {
        var qemu = FakeQemu("nokvm", """echo 'Could not access KVM kernel module: No such file or directory' >&2; exit 1""");
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(10));
        Assert.Equal("tcg", choice.Accelerator);
        Assert.Contains("exited 1", choice.Reason);
        Assert.Contains("Could not access KVM kernel module", choice.Reason);
    }

    [Fact]
    public async Task A_hung_seabios_chooses_tcg_at_the_timeout()
    {
        var qemu = FakeQemu("hung", """printf 'SeaBIOS (version x)\n' > "$dbg"; sleep 30""");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(1));
        Assert.Equal("tcg", choice.Accelerator);
        Assert.Contains("did not finish within 1 s", choice.Reason);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"probe took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_configured_accelerator_skips_the_probe()
    {
        var never = Path.Combine(_dir, "never-run");
        Assert.Equal(new AcceleratorChoice("tcg", "forced by options"), await AcceleratorProbe.ChooseAsync(never, "tcg", TimeSpan.FromSeconds(1), CancellationToken.None));
        Assert.Equal(new AcceleratorChoice("kvm", "forced by options"), await AcceleratorProbe.ChooseAsync(never, "KVM", TimeSpan.FromSeconds(1), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => AcceleratorProbe.ChooseAsync(never, "hvf", TimeSpan.FromSeconds(1), CancellationToken.None));
    }

    [Fact]
    public async Task The_real_probe_never_picks_kvm_without_dev_kvm()
    {
        var qemu = SiteRecovery.Contracts.Processes.BoundedProcess.FindCommand("qemu-system-x86_64");
        Assert.True(qemu is not null, "qemu-system-x86_64 is not installed: run tests/setup.sh");
        var choice = await AcceleratorProbe.ProbeAsync(qemu, TimeSpan.FromSeconds(5));
        if (!File.Exists("/dev/kvm"))
        {
            Assert.Equal("tcg", choice.Accelerator);
            Assert.Contains("KVM", choice.Reason);
        }
        else
        {
            // With a /dev/kvm the answer depends on whether this KVM can run the sector; the reason must say which way,
            // and it is never that qemu could not use its disk.
            Assert.Contains("KVM probe", choice.Reason);
            Assert.DoesNotContain("drive", choice.Reason);
        }
    }
}
