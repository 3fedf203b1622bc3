using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Compute;
using SiteRecovery.Compute.Local;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A planned failover of a qemu machine with the agent's built-in shutdown (<c>sragent --shutdown-qmp</c>), on real parts:
/// the source machine is the tiny guest under qemu (TCG) booted from its agent's NBD export, with a QMP socket; the node's
/// planned failover has the agent press the machine's ACPI power button and wait until it is off before the export turns
/// read-only. The guest writes a note to its disk as it powers off, so the final point must hold a write made during the
/// shutdown itself. A machine that does not power off (paused, so it cannot act on the button) fails the stop with
/// ShutdownFailed naming the timeout, and nothing turns read-only.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PlannedFailoverQmpShutdownTests
{
    const int DiskMb = 64;
    /// <summary>Where the guest writes its power-off note (tests/images/build-tiny-guest.sh).</summary>
    const long PowerOffNoteOffset = 512 << 10;

    sealed record Source(Node Node, Agent Agent, string Disk, string Path, string GuestSha, LocalQemuTarget Target, MachineHandle Vm, string QmpSocket);

    /// <summary>
    /// A node, one agent serving the tiny guest's disk with <c>--shutdown-qmp</c> (the socket is not there yet: the machine
    /// starts after its agent), the machine booted from that export under qemu, and a plan holding it.
    /// </summary>
    static async Task<Source> StartAsync(TempDir dir, double hookTimeoutSeconds)
    {
        var scripts = dir["scripts"];
        Directory.CreateDirectory(scripts);
        var conf = dir["failover.conf"];
        await File.WriteAllTextAsync(conf, $"siterecovery.failover {{ scripts-directory = \"{scripts}\", boot-timeout = 150s }}\n");
        var node = new Node("fo", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        var disk = "vm1-boot";
        var path = dir[$"{disk}.img"];
        await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(DiskMb << 20);
        var vmDir = dir["source-vm"];
        var qmp = Path.Combine(vmDir, QemuCommandLine.ControlSocketName);
        var agent = new Agent("vm1", new Dictionary<string, string> { [disk] = path }, node.PsAddress, dir["agent-vm1"], dir.Path);
        agent.ExtraArgs.AddRange(["--shutdown-qmp", qmp, "--hook-timeout", hookTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await agent.StartAsync();
        await agent.Process!.WaitForLineAsync(l => l.Contains("no socket there yet", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the QMP socket's warning");
        var sha = await GuestMachines.SeedAsync(agent.Uri(disk), dir.Path, 7);
        await node.BookmarkAsync("seeded-vm1", [disk], TimeSpan.FromSeconds(60));

        var target = new LocalQemuTarget();
        var vm = await target.StartAsync(new MachineSpec("source-vm1", "source-vm1", 256, 1, "bios", NetworkMode.None, null, vmDir),
            [new DiskSource(disk, agent.Uri(disk), (long)DiskMb << 20)], default);
        try
        {
            var boot = await target.WaitBootedAsync(vm, "SR-BOOTED", TimeSpan.FromSeconds(150), default);
            var console = await File.ReadAllTextAsync(vm.ConsolePath);
            Assert.True(boot.Booted, $"the source machine did not boot ({vm.Accelerator}): {boot.Failure}\n{console}");
            Assert.Contains($"SR-CHECK OK bytes={1 << 20} sha256={sha}", console);

            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync("api/vaults", new { name = "dr", region = "WestEurope" })).Status);
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "move", vault = "dr", groups = new[] { new { machines = new[] { "vm1" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
            return new Source(node, agent, disk, path, sha, target, vm, qmp);
        }
        catch
        {
            await target.StopAsync(vm, default);
            agent.Dispose();
            node.Dispose();
            throw;
        }
    }

    static async Task<(string Job, JsonNode Body)> PlannedFailoverAsync(Source s)
    {
        var start = await s.Node.Api.PostAsync("api/failovers", new { plan = "move", kind = "planned" });
        Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
        var job = start.Body!["jobId"]!.GetValue<string>();
        return (job, await FailoverTests.UntilAsync(s.Node, job, j => FailoverTests.Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(4)));
    }

    /// <summary>The source machine, and any machine the failover started that a failed assertion left running (the target's own cleanup).</summary>
    static async Task StopAllAsync(Source s, TempDir dir)
    {
        await s.Target.StopAsync(s.Vm, default);
        var jobs = Path.Combine(dir["n"], "failover");
        if (Directory.Exists(jobs))
            foreach (var machine in Directory.EnumerateDirectories(jobs).SelectMany(Directory.EnumerateDirectories))
                await s.Target.StopLeftoverAsync(machine, default);
        s.Agent.Dispose();
    }

    static async Task<string> NoteAsync(string image)
    {
        var note = new byte[512];
        await using var f = File.OpenRead(image);
        f.Position = PowerOffNoteOffset;
        await f.ReadExactlyAsync(note);
        return Encoding.ASCII.GetString(note).TrimEnd('\n', ' ', '\0');
    }

    [Fact]
    public async Task The_agent_powers_the_source_machine_off_over_QMP_and_the_final_point_holds_the_guests_last_write_byte_for_byte()
    {
        using var dir = new TempDir("failover-qmp-off");
        var s = await StartAsync(dir, hookTimeoutSeconds: 60);
        using var node = s.Node;
        try
        {
            var (job, done) = await PlannedFailoverAsync(s);
            Assert.True(FailoverTests.Status(done) == "Completed", done.ToJsonString() + "\n" + s.Agent.Logs(60));
            var stop = done["steps"]![0]!["output"]!.GetValue<string>();
            Assert.Contains("QMP shutdown powered off", stop);
            Assert.Contains("after system_powerdown", stop);
            Assert.Contains("read-only and drained", stop);

            // The machine went down by itself: qemu ended (not killed by anyone), and its console shows the guest's power-off.
            Assert.False(s.Target.IsRunning(s.Vm), "the source machine's qemu still runs after the planned failover");
            var console = await File.ReadAllTextAsync(s.Vm.ConsolePath);
            var poweroff = console.Split('\n').Select(l => l.Trim()).SingleOrDefault(l => l.StartsWith("SR-POWEROFF ", StringComparison.Ordinal));
            Assert.True(poweroff is not null, $"the guest never printed SR-POWEROFF:\n{console}");
            Assert.Contains("reboot: Power down", console);

            // The guest's last write, made while it shut down, is on the source disk and therefore in the final point.
            Assert.Equal(poweroff, await NoteAsync(s.Path));
            var source = await GuestMachines.Sha256Async(s.Path);
            var disk = Assert.Single(done["machines"]![0]!["disks"]!.AsArray())!;
            Assert.True(disk["sha256"]!.GetValue<string>() == source, $"recovered {s.Disk}: got SHA-256 {disk["sha256"]}, want the source's {source}");
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={s.GuestSha}", done["boots"]![0]!["guestCheck"]!.GetValue<string>());

            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync($"api/failovers/{job}/rollback", new { reason = "test over" })).Status);
            await FailoverTests.UntilAsync(node, job, j => FailoverTests.Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
        }
        finally
        {
            await StopAllAsync(s, dir);
        }
    }

    [Fact]
    public async Task A_machine_that_does_not_power_off_fails_the_stop_with_ShutdownFailed_naming_the_timeout_and_nothing_turns_read_only()
    {
        using var dir = new TempDir("failover-qmp-ignored");
        var s = await StartAsync(dir, hookTimeoutSeconds: 5);
        using var node = s.Node;
        try
        {
            // Paused, the machine cannot act on its power button (qemu keeps the press for when it runs again).
            await using (var qmp = await QmpClient.ConnectAsync(s.QmpSocket, default))
                await qmp.ExecuteAsync("stop", null, default);

            var (_, failed) = await PlannedFailoverAsync(s);
            Assert.True(FailoverTests.Status(failed) == "StepFailed", failed.ToJsonString());
            var error = failed["steps"]![0]!["error"]!.GetValue<string>();
            Assert.Contains("ShutdownFailed", error);
            Assert.Contains("timed out: the machine is still paused 5 s after system_powerdown", error);
            Assert.Contains("nothing was made read-only", error);
            Assert.Empty(failed["machines"]!.AsArray());

            // Nothing turned read-only: the export takes writes, and the machine is still there.
            Assert.True(s.Target.IsRunning(s.Vm), "the source machine's qemu ended");
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", s.Agent.Uri(s.Disk), "-c", "write -P 0x5a 60M 64k"], TimeSpan.FromMinutes(1));

            // Running again, the guest acts on the press it missed: the button was pressed, the guest just could not answer.
            await using (var qmp = await QmpClient.ConnectAsync(s.QmpSocket, default))
                await qmp.ExecuteAsync("cont", null, default);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (s.Target.IsRunning(s.Vm) && DateTime.UtcNow < deadline) await Task.Delay(200);
            var console = await File.ReadAllTextAsync(s.Vm.ConsolePath);
            Assert.False(s.Target.IsRunning(s.Vm), $"the resumed machine did not power off:\n{console}");
            Assert.Contains("SR-POWEROFF ", console);
        }
        finally
        {
            await StopAllAsync(s, dir);
        }
    }
}
