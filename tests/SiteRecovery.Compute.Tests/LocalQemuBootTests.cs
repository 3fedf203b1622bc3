using System.Security.Cryptography;
using System.Text.Json;
using SiteRecovery.Compute.Local;
using Xunit.Abstractions;

namespace SiteRecovery.Compute.Tests;

// Real boots of the tiny guest under qemu, each in its own class so xunit runs them side by side (a TCG boot takes
// ~7-15 s; serially the four would take most of the time budget).

/// <summary>Shared set-up: a work folder, the target, and the report of a boot.</summary>
public abstract class LocalQemuBootTest : IDisposable
{
    protected readonly string Root = Directory.CreateTempSubdirectory("sr-compute-").FullName;
    protected readonly LocalQemuTarget Target = new();
    protected readonly ITestOutputHelper Output;
    protected static CancellationToken Ct => CancellationToken.None;

    protected LocalQemuBootTest(ITestOutputHelper output) => Output = output;

    public void Dispose() => Directory.Delete(Root, recursive: true);

    protected async Task<BootResult> BootAsync(MachineHandle machine)
    {
        var boot = await Target.WaitBootedAsync(machine, GuestPayload.BootedMarker, TinyGuest.BootTimeout, Ct);
        Output.WriteLine($"{machine.MachineId}: booted={boot.Booted} in {boot.Elapsed.TotalSeconds:F1} s under {machine.Accelerator}; {boot.Failure}");
        foreach (var line in boot.ConsoleTail) Output.WriteLine("  | " + line);
        return boot;
    }

    protected static GuestCheckLine CheckLine(MachineHandle machine) =>
        Assert.Single(File.ReadLines(machine.ConsolePath).Select(GuestPayload.Parse).OfType<GuestCheckLine>());

    protected static void AssertGone(MachineHandle machine)
    {
        Assert.False(TinyGuest.ProcessAlive(machine.Pid), $"qemu pid {machine.Pid} is still alive after StopAsync");
        var folder = Path.GetDirectoryName(machine.ConsolePath)!;
        Assert.False(File.Exists(Path.Combine(folder, LocalQemuTarget.PidFileName)), "qemu.pid left behind");
        Assert.False(File.Exists(Path.Combine(folder, LocalQemuTarget.HandleFileName)), "machine.json left behind");
        Assert.True(File.Exists(machine.ConsolePath), "the console file must be kept");
    }
}

public sealed class LocalQemuBootsAndChecksPayloadTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    [Fact]
    public async Task Boots_from_nbd_reports_the_payload_ok_and_stops_without_leaving_qemu()
    {
        var image = await TinyGuestImage.PathAsync();
        await using var boot = await NbdExport.CopyOfAsync(image, "boot");
        await using var data = await NbdExport.BlankAsync(16 << 20, "data");
        var payload = RandomNumberGenerator.GetBytes(300_001);
        await boot.WritePayloadAsync(payload);

        var spec = TinyGuest.Spec(Root, "boot-ok");
        var machine = await Target.StartAsync(spec, [new DiskSource("d-boot", boot.Uri, TinyGuest.ImageBytes), new DiskSource("d-data", data.Uri, 16 << 20)], Ct);
        try
        {
            Assert.Equal("local", machine.Target);
            Assert.Equal(spec.MachineId, machine.MachineId);
            Assert.True(Target.IsRunning(machine));
            Assert.StartsWith(spec.WorkDirectory, machine.ConsolePath);
            Assert.Contains(machine.InstanceId, File.ReadAllText($"/proc/{machine.Pid}/cmdline"));

            var result = await BootAsync(machine);
            Assert.True(result.Booted, result.Failure);
            Assert.Null(result.Failure);
            Assert.Equal(GuestPayload.BootedMarker, result.ConsoleTail[^1]);
            var console = File.ReadAllLines(machine.ConsolePath);
            Assert.Contains(console, l => l.StartsWith("SR-GUEST up ", StringComparison.Ordinal));
            Assert.Contains("SR-DISKS vda vdb", console);
            Assert.Equal(new GuestCheckLine(GuestCheck.Ok, payload.Length, GuestPayload.Sha256Hex(payload), null, null), CheckLine(machine));
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
        }
        AssertGone(machine);
        Assert.False(Target.IsRunning(machine));
        await Target.StopAsync(machine, Ct); // stopping a stopped machine is not an error
    }
}

public sealed class LocalQemuCorruptPayloadTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    [Fact]
    public async Task A_corrupted_payload_boots_and_reports_failed_with_both_hashes()
    {
        var image = await TinyGuestImage.PathAsync();
        await using var boot = await NbdExport.CopyOfAsync(image, "boot");
        var payload = RandomNumberGenerator.GetBytes(65_536);
        await boot.WritePayloadAsync(payload);
        const int flipped = 40_000;
        await boot.WriteByteAsync(GuestPayload.DataOffset + flipped, (byte)(payload[flipped] ^ 0xFF));
        var corrupted = (byte[])payload.Clone();
        corrupted[flipped] ^= 0xFF;

        var machine = await Target.StartAsync(TinyGuest.Spec(Root, "boot-corrupt"), [new DiskSource("d-boot", boot.Uri, TinyGuest.ImageBytes)], Ct);
        try
        {
            var result = await BootAsync(machine);
            Assert.True(result.Booted, result.Failure);
            Assert.Contains("SR-DISKS vda", File.ReadAllLines(machine.ConsolePath));
            Assert.Equal(new GuestCheckLine(GuestCheck.Failed, null, null, GuestPayload.Sha256Hex(payload), GuestPayload.Sha256Hex(corrupted)), CheckLine(machine));
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
        }
        AssertGone(machine);
    }
}

public sealed class LocalQemuUnreachableDiskTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    [Fact]
    public async Task A_disk_nobody_serves_fails_the_start_with_qemus_exit_and_message()
    {
        var port = TinyGuest.FreePort(); // nothing listens there
        var spec = TinyGuest.Spec(Root, "boot-unreachable");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<MachineStartException>(() =>
            Target.StartAsync(spec, [new DiskSource("d-boot", $"nbd://127.0.0.1:{port}/boot", TinyGuest.ImageBytes)], Ct));
        Output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {e.Message}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"start took {clock.Elapsed}");
        Assert.Equal("boot-unreachable", e.Machine);
        Assert.StartsWith("qemu exited 1:", e.Reason);
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.Contains("Connection refused", e.Message);
        Assert.Contains("console ", e.Message);
        Assert.False(File.Exists(Path.Combine(spec.WorkDirectory, LocalQemuTarget.PidFileName)));
        Assert.False(File.Exists(Path.Combine(spec.WorkDirectory, LocalQemuTarget.HandleFileName)));
    }

    [Fact]
    public async Task A_machine_that_exits_before_the_marker_fails_the_wait_naming_the_exit()
    {
        // A disk that is served but holds no boot sector: SeaBIOS finds nothing, and a guest that never prints the
        // marker must end in "exited" (once it is stopped) rather than hang the wait.
        await using var blank = await NbdExport.BlankAsync(64 << 20, "blank");
        var machine = await Target.StartAsync(TinyGuest.Spec(Root, "boot-blank") with { Network = NetworkMode.None }, [new DiskSource("d-blank", blank.Uri, 64 << 20)], Ct);
        var waiting = Target.WaitBootedAsync(machine, GuestPayload.BootedMarker, TimeSpan.FromSeconds(20), Ct);
        await Task.Delay(1500);
        Assert.False(waiting.IsCompleted);
        await new LocalQemuTarget().StopAsync(machine, Ct);
        var result = await waiting;
        Output.WriteLine(result.Failure);
        Assert.False(result.Booted);
        Assert.Equal($"machine {machine.MachineId}: qemu process {machine.Pid} exited before console {machine.ConsolePath} showed 'SR-BOOTED'", result.Failure);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(20), $"the wait took {result.Elapsed}");
        AssertGone(machine);
    }

    [Fact]
    public async Task A_machine_that_never_shows_the_marker_times_out_naming_the_console()
    {
        await using var blank = await NbdExport.BlankAsync(64 << 20, "blank");
        var machine = await Target.StartAsync(TinyGuest.Spec(Root, "boot-silent") with { Network = NetworkMode.None }, [new DiskSource("d-blank", blank.Uri, 64 << 20)], Ct);
        try
        {
            var result = await Target.WaitBootedAsync(machine, GuestPayload.BootedMarker, TimeSpan.FromSeconds(2), Ct);
            Output.WriteLine(result.Failure);
            Assert.False(result.Booted);
            Assert.Equal($"machine {machine.MachineId}: console {machine.ConsolePath} did not show 'SR-BOOTED' within 2 s (qemu process {machine.Pid} still runs)", result.Failure);
        }
        finally
        {
            await Target.StopAsync(machine, Ct);
        }
        AssertGone(machine);
    }
}

public sealed class LocalQemuRestartedNodeTests(ITestOutputHelper output) : LocalQemuBootTest(output)
{
    [Fact]
    public async Task A_fresh_target_with_only_the_persisted_handle_finds_waits_for_and_stops_the_machine()
    {
        var image = await TinyGuestImage.PathAsync();
        await using var boot = await NbdExport.CopyOfAsync(image, "boot");
        var spec = TinyGuest.Spec(Root, "boot-restart");
        var disks = new[] { new DiskSource("d-boot", boot.Uri, TinyGuest.ImageBytes) };
        var started = await new LocalQemuTarget().StartAsync(spec, disks, Ct);
        var persisted = JsonSerializer.Serialize(started);
        try
        {
            // qemu is not the node's child: it has its own session, so a SIGKILL of the node does not reach it.
            Assert.NotEqual(TinyGuest.SessionOf(Environment.ProcessId), TinyGuest.SessionOf(started.Pid));

            // The node restarts: a new target, the handle from the journal.
            var handle = JsonSerializer.Deserialize<MachineHandle>(persisted)!;
            var restarted = new LocalQemuTarget();
            Assert.True(restarted.IsRunning(handle));

            // A resumed saga repeats its start: the same machine, not a second one.
            Assert.Equal(handle, await restarted.StartAsync(spec, disks, Ct));
            // Even when the node died before machine.json was written: the machine is adopted from qemu.pid.
            File.Delete(Path.Combine(spec.WorkDirectory, LocalQemuTarget.HandleFileName));
            var adopted = await new LocalQemuTarget().StartAsync(spec, disks, Ct);
            Assert.Equal((handle.InstanceId, handle.Pid, handle.ConsolePath, handle.Accelerator), (adopted.InstanceId, adopted.Pid, adopted.ConsolePath, adopted.Accelerator));

            var result = await BootAsync(handle);
            Assert.True(result.Booted, result.Failure);
            Assert.Equal(GuestCheck.None, CheckLine(handle).Result);

            await new LocalQemuTarget().StopAsync(handle, Ct);
            AssertGone(handle);
            Assert.False(restarted.IsRunning(handle));
        }
        finally
        {
            await new LocalQemuTarget().StopAsync(started, Ct);
        }
    }

    [Fact]
    public async Task A_recycled_pid_is_never_signalled()
    {
        // A handle whose pid is now some other process (here: this test host) must read as not running and stop as a no-op.
        var stale = new MachineHandle("local", "machine-x", "sr-0000000000000000", Environment.ProcessId, Path.Combine(Root, "x", "console.log"), "tcg", DateTimeOffset.UtcNow);
        Assert.False(Target.IsRunning(stale));
        await Target.StopAsync(stale, Ct);
        Assert.True(TinyGuest.ProcessAlive(Environment.ProcessId));
    }
}
