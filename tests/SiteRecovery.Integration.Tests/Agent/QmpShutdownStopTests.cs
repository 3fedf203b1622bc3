using System.Diagnostics;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// The agent's <c>--shutdown-qmp</c> in a quiescing stop, against a real qemu. When the machine does not go down (no disk,
/// so SeaBIOS finds nothing to boot and no operating system acts on the power button): still running at the hook timeout,
/// qemu frozen (SIGSTOP: the socket accepts but nobody answers), qemu killed (SIGKILL leaves its socket, which refuses);
/// each answers ShutdownFailed naming which, and the disk stays writable. And a machine already off but kept by qemu
/// (<c>-no-shutdown</c>) counts as off by its status. The power-off of a machine booted from the agent's own export, through
/// the node's planned failover, is in the Chaos tests (<c>PlannedFailoverQmpShutdownTests</c>).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class QmpShutdownStopTests : IDisposable
{
    readonly string _dir = Tools.TempDirectory("qmp-off");
    int? _qemu;

    public void Dispose()
    {
        if (_qemu is { } pid) try { using var p = Process.GetProcessById(pid); p.Kill(); } catch (ArgumentException) { }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    async Task<int> StartQemuAsync(string socket, params string[] more)
    {
        var pidFile = Path.Combine(_dir, "qemu.pid");
        var qemu = BoundedProcess.FindCommand("qemu-system-x86_64") ?? throw new InvalidOperationException("qemu-system-x86_64 is not installed: run tests/setup.sh");
        var run = await BoundedProcess.RunAsync(qemu, ["-accel", "tcg", "-m", "128", "-display", "none", "-monitor", "none", "-nodefaults",
            "-qmp", $"unix:{socket},server=on,wait=off", "-pidfile", pidFile, "-daemonize", .. more], _dir, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.True(run.ExitCode == 0, $"qemu did not start: {BoundedProcess.Quote(run)}");
        _qemu = int.Parse(File.ReadAllText(pidFile).Trim());
        return _qemu.Value;
    }

    static async Task<StoppedForFailover> StopAsync(Site site, string id) =>
        await site.Agent.Client!.Stops.StopAsync(new StopForFailover(id, ["disk1"], 20_000, Quiesce: true, ClientsWaitMs: 1000), default);

    static void AssertRefused(Site site, StoppedForFailover stop, string why)
    {
        Assert.True(stop.Failure == FailoverStopFailure.ShutdownFailed, $"got failure {stop.Failure} ({stop.Error}), want ShutdownFailed");
        Assert.Contains(why, stop.Error);
        Assert.Contains("nothing was made read-only", stop.Error);
        Assert.Empty(stop.LastSequences);
        Assert.False(site.Agent.Exports[0].ReadOnly, "disk1 was made read-only by a refused stop");
    }

    [Fact]
    public async Task A_machine_still_running_frozen_or_gone_fails_the_stop_with_ShutdownFailed_naming_why_and_the_disk_stays_writable()
    {
        var socket = Path.Combine(_dir, "vm.qmp");
        await using var site = await Site.StartAsync("qmpoff", 1, 16L << 20, configure: s => s.ConfigureAgent = o => o with
        {
            ShutdownQmp = socket,
            Freeze = FreezeOptions.None with { HookTimeout = TimeSpan.FromSeconds(3) },
        });
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var pid = await StartQemuAsync(socket);

        AssertRefused(site, await StopAsync(site, "running"), "timed out: the machine is still running 3 s after system_powerdown");

        await ExternalTool.RunOkAsync("kill", ["-STOP", pid.ToString()], TimeSpan.FromSeconds(10));
        AssertRefused(site, await StopAsync(site, "frozen"), "qemu did not answer over QMP within 3 s");

        await ExternalTool.RunOkAsync("kill", ["-KILL", pid.ToString()], TimeSpan.FromSeconds(10));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (File.Exists($"/proc/{pid}/stat") && DateTime.UtcNow < deadline) await Task.Delay(20);
        _qemu = null;
        Assert.True(File.Exists(socket), "the killed qemu's socket is gone: the refused case is not tested");
        AssertRefused(site, await StopAsync(site, "gone"), "cannot connect");

        // Still writable after three refused stops: the source goes on as before.
        var write = (await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x12 0 64k\"", TimeSpan.FromSeconds(10))).Output;
        Assert.Contains("wrote 65536/65536 bytes", write);
    }

    [Fact]
    public async Task A_machine_already_powered_off_under_no_shutdown_is_seen_off_by_its_status_and_the_stop_goes_on()
    {
        var socket = Path.Combine(_dir, "vm.qmp");
        await using var site = await Site.StartAsync("qmpdown", 1, 16L << 20, configure: s => s.ConfigureAgent = o => o with
        {
            ShutdownQmp = socket,
            Freeze = FreezeOptions.None with { HookTimeout = TimeSpan.FromSeconds(10) },
        });
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        // The tiny guest, from a copy of its image, kept by qemu after it powers off (-no-shutdown: status "shutdown").
        var image = Path.Combine(_dir, "guest.img");
        File.Copy(await SiteRecovery.TestSupport.TinyGuestImage.PathAsync(), image);
        var console = Path.Combine(_dir, "console.log");
        var pid = await StartQemuAsync(socket, "-no-shutdown", "-serial", $"file:{console}", "-drive", $"file={image},format=raw,if=virtio");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (!(File.Exists(console) && File.ReadAllText(console).Contains("SR-BOOTED", StringComparison.Ordinal)) && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(File.ReadAllText(console).Contains("SR-BOOTED", StringComparison.Ordinal), $"the guest did not boot: {File.ReadAllText(console)}");
        // Powered off before the failover (here by the same button, pressed once already: that press sees the SHUTDOWN event).
        var first = await new QmpShutdown(socket).ShutDownAsync(TimeSpan.FromSeconds(60), default);
        Assert.True(first.Succeeded, $"the guest did not power off: {first.Detail}\n{File.ReadAllText(console)}");
        Assert.Contains("SHUTDOWN event; qemu's reason: guest-shutdown", first.Detail);
        Assert.Contains("SR-POWEROFF ", File.ReadAllText(console));

        var stop = await StopAsync(site, "down");
        Assert.True(stop.Failure is null, $"got failure {stop.Failure} ({stop.Error})");
        Assert.Contains("QMP shutdown powered off", stop.Quiesce);
        Assert.Contains("(query-status: shutdown)", stop.Quiesce);
        Assert.True(site.Agent.Exports[0].ReadOnly, "disk1 is writable after the stop");
        Assert.True(File.Exists($"/proc/{pid}/stat"), "qemu ended although -no-shutdown keeps it");
    }
}
