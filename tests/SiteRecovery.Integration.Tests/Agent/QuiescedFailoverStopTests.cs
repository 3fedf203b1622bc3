using System.Diagnostics;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node.Failover;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// Planned failover, "stop the source" with <see cref="StopForFailover.Quiesce"/>: the agent freezes its hooks, runs its
/// shutdown command (or waits for a bare export's NBD clients), makes the exports read-only, drains, and thaws, in that
/// order; a failing freeze refuses the stop and leaves the disks writable; the wait for clients is bounded; without
/// Quiesce nothing of this runs. Real scripts in a temp folder and real qemu-io clients.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class QuiescedFailoverStopTests : IDisposable
{
    const long Size = 16L << 20;
    readonly string _dir = Tools.TempDirectory("quiesce");

    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    string Trail => Path.Combine(_dir, "trail.txt");
    string UriFile => Path.Combine(_dir, "uri.txt");
    string ClientPidFile => Path.Combine(_dir, "client.pid");

    string[] TrailLines() => File.Exists(Trail) ? File.ReadAllLines(Trail) : [];

    string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    /// <summary>
    /// The application's freeze: on freeze it flushes one last block through the export (it must be captured: the export
    /// is still writable) and records whether that write went through; on thaw it records the phase. Fails the freeze when asked.
    /// </summary>
    string FreezeHook(bool fail = false) => Script("app.sh",
        $"echo \"hook $1\" >> '{Trail}'\n" +
        (fail ? "if [ \"$1\" = freeze ]; then echo 'app cannot freeze: locked' >&2; exit 4; fi\n" : "") +
        $"if [ \"$1\" = freeze ]; then if qemu-io -f raw \"$(cat '{UriFile}')\" -c 'write -P 0x66 1M 64k' >/dev/null 2>&1; then echo 'flush written' >> '{Trail}'; else echo 'flush refused' >> '{Trail}'; fi; fi\n" +
        "exit 0");

    /// <summary>Shuts "the machine" down: kills the connected NBD client (as a powered-off VM drops its connection).</summary>
    string ShutdownScript() => Script("shutdown.sh",
        $"echo \"shutdown $1\" >> '{Trail}'\nkill \"$(cat '{ClientPidFile}')\"\nexit 0");

    Task<Site> StartAsync(string name, string? freezeScript, string? shutdown) =>
        Site.StartAsync(name, 1, Size, configure: s => s.ConfigureAgent = o => o with
        {
            Freeze = new SiteRecovery.Agent.Consistency.FreezeOptions(freezeScript is null ? [] : [freezeScript], []),
            ShutdownCommand = shutdown,
        });

    static async Task WaitForClientsAsync(Site site, string disk, int want)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (site.Agent.NbdClientsOf(disk) != want && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(site.Agent.NbdClientsOf(disk) == want, $"{disk}: got {site.Agent.NbdClientsOf(disk)} NBD clients, want {want}");
    }

    static async Task AssertRecoveredEqualsSourceAsync(Site site, long sequence)
    {
        var output = Path.Combine(site.Root, $"disk1-at-{sequence}.img");
        await site.Target.RecoverAsync("disk1", sequence, output, null, default);
        var (want, got) = (Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
        Assert.True(want == got, $"disk1 recovered at #{sequence}: got SHA-256 {got}, want the source's {want}");
    }

    static int IndexOf(List<string> log, string part)
    {
        lock (log) return log.FindIndex(l => l.Contains(part, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Freeze_then_shutdown_then_read_only_then_drain_then_thaw_and_the_flush_made_by_the_freeze_is_in_the_final_sequence()
    {
        var hook = FreezeHook();
        var shutdown = ShutdownScript();
        await using var site = await StartAsync("qorder", hook, shutdown);
        await File.WriteAllTextAsync(UriFile, site.NbdUri("disk1"));
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        await using var client = QemuIoSession.Start(site.NbdUri("disk1"));
        await File.WriteAllTextAsync(ClientPidFile, client.Pid.ToString());
        await WaitForClientsAsync(site, "disk1", 1);

        var stopped = await new SourceStop(site.Target).StopAsync(["disk1"], TimeSpan.FromSeconds(40), default, quiesce: true);
        Assert.True(stopped.Ok, string.Join("; ", stopped.Errors) + "\n" + string.Join("\n", site.Log.TakeLast(15)));

        // The scripts' own trail: the freeze (whose flush went through, the export still writable), the shutdown, the thaw.
        Assert.Equal(["hook freeze", "flush written", "shutdown shutdown", "hook thaw"], TrailLines());
        Assert.True(client.Exited, "the shutdown command did not end the client");
        // The agent's log puts read-only and the drain between the shutdown and the thaw.
        var order = new[]
        {
            $"freeze hook script {hook}: Ok",
            $"shutdown command {shutdown}: exited 0",
            "1 NBD client(s) disconnected within",
            "disk disk1: writes stopped for a planned failover",
            "disk disk1: drained for a planned failover",
            $"thaw hook script {hook}: Ok",
        }.Select(p => (p, At: IndexOf(site.Log, p))).ToList();
        Assert.All(order, o => Assert.True(o.At >= 0, $"the agent never logged '{o.p}':\n{string.Join("\n", site.Log)}"));
        for (var i = 1; i < order.Count; i++)
            Assert.True(order[i - 1].At < order[i].At, $"got '{order[i].p}' (line {order[i].At}) before '{order[i - 1].p}' (line {order[i - 1].At})");

        // The node's view: what the quiesce did, in the text it puts in the step's output.
        var text = Assert.Single(stopped.Quiesced!);
        Assert.Contains($"froze script {hook}", text);
        Assert.Contains("shutdown command exited 0", text);
        Assert.Contains("1 NBD client(s) disconnected within", text);
        Assert.Contains("thaw ok after the drain", text);

        // Zero loss: the freeze's flush is at or before the reported sequence, and a recovery there is the source.
        var export = site.Agent.Exports[0];
        Assert.True(export.ReadOnly, "disk1 is writable after the stop");
        Assert.True(export.Stream.LastSequence == stopped.LastSequences["disk1"], $"agent numbered #{export.Stream.LastSequence} after the stop at #{stopped.LastSequences["disk1"]}");
        await AssertRecoveredEqualsSourceAsync(site, stopped.LastSequences["disk1"]);

        // Asked again (a retried step), the same sequence and the same text, and nothing runs again.
        var again = await new SourceStop(site.Target).StopAsync(["disk1"], TimeSpan.FromSeconds(20), default, quiesce: true);
        Assert.True(again.Ok, string.Join("; ", again.Errors));
        Assert.Equal(stopped.LastSequences["disk1"], again.LastSequences["disk1"]);
        Assert.Equal(text, Assert.Single(again.Quiesced!));
        Assert.Equal(4, TrailLines().Length);
    }

    [Fact]
    public async Task A_failing_freeze_refuses_the_stop_with_FreezeFailed_thaws_runs_no_shutdown_and_leaves_the_disk_writable()
    {
        var hook = FreezeHook(fail: true);
        await using var site = await StartAsync("qfail", hook, ShutdownScript());
        await File.WriteAllTextAsync(UriFile, site.NbdUri("disk1"));
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));

        var direct = await site.Agent.Client!.Stops.StopAsync(new StopForFailover("f1", ["disk1"], 5000, Quiesce: true, ClientsWaitMs: 1000), default);
        Assert.True(direct.Failure == FailoverStopFailure.FreezeFailed, $"got failure {direct.Failure} ({direct.Error}), want FreezeFailed");
        Assert.Contains("app cannot freeze: locked", direct.Error);
        Assert.Contains("nothing was made read-only", direct.Error);
        Assert.Empty(direct.LastSequences);
        Assert.Equal(["hook freeze", "hook thaw"], TrailLines());
        Assert.False(site.Agent.Exports[0].ReadOnly, "disk1 was made read-only by a refused stop");
        Assert.False(site.Agent.Freezer.Frozen, "the freeze was left in effect");

        var viaNode = await new SourceStop(site.Target).StopAsync(["disk1"], TimeSpan.FromSeconds(20), default, quiesce: true);
        var error = Assert.Single(viaNode.Errors);
        Assert.Equal(FailoverStopFailure.FreezeFailed, error.Reason);
        var write = (await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x12 0 64k\"", TimeSpan.FromSeconds(10))).Output;
        Assert.Contains("wrote 65536/65536 bytes", write);
        Assert.DoesNotContain(TrailLines(), l => l.StartsWith("shutdown", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_bare_export_waits_for_its_client_to_finish_and_disconnect_and_the_client_is_never_refused()
    {
        await using var site = await StartAsync("qbare", null, null);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var export = site.Agent.Exports[0];
        await using var client = QemuIoSession.Start(site.NbdUri("disk1"));
        await WaitForClientsAsync(site, "disk1", 1);

        var stopping = site.Agent.Client!.Stops.StopAsync(new StopForFailover("b1", ["disk1"], 20_000, Quiesce: true, ClientsWaitMs: 15_000), default);
        await Task.Delay(1000);
        Assert.False(stopping.IsCompleted, "the stop did not wait for the connected client");
        Assert.False(export.ReadOnly, "the export turned read-only while its client was still connected");
        // The client finishes its work while the stop waits: its writes go through and are captured.
        await client.SendAsync("write -P 0x71 2M 64k");
        await client.SendAsync("quit");
        var output = await client.OutputAsync();
        Assert.Contains("wrote 65536/65536 bytes", output);
        Assert.DoesNotContain("Operation not permitted", output);

        var stopped = await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(stopped.Error is null, $"{stopped.Failure}: {stopped.Error}");
        Assert.Contains("1 NBD client(s) disconnected within", stopped.Quiesce);
        Assert.Contains("no freeze hooks", stopped.Quiesce);
        Assert.True(export.ReadOnly);
        await site.CatchUpAsync(TimeSpan.FromSeconds(10));
        await AssertRecoveredEqualsSourceAsync(site, stopped.LastSequences["disk1"]);
    }

    [Fact]
    public async Task A_client_that_stays_connected_is_waited_for_only_the_bounded_time_then_the_stop_goes_on_and_says_so()
    {
        await using var site = await StartAsync("qstay", null, null);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        await using var client = QemuIoSession.Start(site.NbdUri("disk1"));
        await WaitForClientsAsync(site, "disk1", 1);

        var clock = Stopwatch.StartNew();
        var stopped = await site.Agent.Client!.Stops.StopAsync(new StopForFailover("s1", ["disk1"], 20_000, Quiesce: true, ClientsWaitMs: 1500), default);
        Assert.True(stopped.Error is null, $"{stopped.Failure}: {stopped.Error}");
        Assert.True(clock.ElapsedMilliseconds >= 1500, $"the stop took {clock.ElapsedMilliseconds} ms, want at least the 1500 ms client wait");
        Assert.Contains("1 NBD client(s) still connected after 1500 ms (disk1: 1); made read-only anyway", stopped.Quiesce);
        Assert.True(site.Agent.Exports[0].ReadOnly);

        // The client that stayed is refused from now on, and what it tried is not captured.
        await client.SendAsync("write -P 0x72 3M 64k");
        await client.SendAsync("quit");
        Assert.Contains("Operation not permitted", await client.OutputAsync());
        Assert.Equal(stopped.LastSequences["disk1"], site.Agent.Exports[0].Stream.LastSequence);
    }

    [Fact]
    public async Task Without_Quiesce_the_stop_is_immediate_runs_no_hook_nor_shutdown_and_does_not_wait_for_clients()
    {
        await using var site = await StartAsync("qplain", FreezeHook(), ShutdownScript());
        await File.WriteAllTextAsync(UriFile, site.NbdUri("disk1"));
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        await using var client = QemuIoSession.Start(site.NbdUri("disk1"));
        await File.WriteAllTextAsync(ClientPidFile, client.Pid.ToString());
        await WaitForClientsAsync(site, "disk1", 1);

        var clock = Stopwatch.StartNew();
        var stopped = await new SourceStop(site.Target).StopAsync(["disk1"], TimeSpan.FromSeconds(20), default);
        Assert.True(stopped.Ok, string.Join("; ", stopped.Errors));
        Assert.True(clock.ElapsedMilliseconds < 5000, $"a plain stop took {clock.ElapsedMilliseconds} ms");
        Assert.Null(stopped.Quiesced);
        Assert.Empty(TrailLines());
        Assert.False(client.Exited, "a plain stop ended the client");
        Assert.Equal(1, site.Agent.NbdClientsOf("disk1"));
        var direct = await site.Agent.Client!.Stops.StopAsync(new StopForFailover("p1", ["disk1"]), default);
        Assert.Null(direct.Quiesce);
        Assert.Equal(stopped.LastSequences["disk1"], direct.LastSequences["disk1"]);
    }

    [Fact]
    public async Task A_resume_asked_while_a_quiesce_runs_waits_for_it_and_leaves_the_disk_writable()
    {
        var slow = Script("slow.sh", $"echo \"slow $1\" >> '{Trail}'\nif [ \"$1\" = freeze ]; then sleep 2; fi\nexit 0");
        await using var site = await StartAsync("qresume", slow, null);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var stops = site.Agent.Client!.Stops;
        var first = await stops.StopAsync(new StopForFailover("r1", ["disk1"], 300, Quiesce: true, ClientsWaitMs: 500), default);
        Assert.True(first.Failure == FailoverStopFailure.QuiesceRunning, $"got {first.Failure} ({first.Error}), want QuiesceRunning");
        // The rollback comes while the freeze still runs.
        var resumed = await stops.ResumeAsync(new ResumeAfterFailover("r2", ["disk1"]), default);
        Assert.Null(resumed.Error);
        Assert.False(site.Agent.Exports[0].ReadOnly, "the quiesce that was running made the disk read-only after the resume");
        // Past the end of the 2 s freeze: a quiesce left running would have turned the disk read-only by now.
        await Task.Delay(3000);
        Assert.False(site.Agent.Exports[0].ReadOnly, "the quiesce turned the disk read-only after the resume");
        Assert.Equal(["slow freeze", "slow thaw"], TrailLines());
    }

    [Fact]
    public async Task A_quiesce_longer_than_one_answer_is_answered_QuiesceRunning_and_the_next_ask_joins_the_same_run()
    {
        var slow = Script("slow.sh", $"echo \"slow $1\" >> '{Trail}'\nif [ \"$1\" = freeze ]; then sleep 2; fi\nexit 0");
        await using var site = await StartAsync("qslow", slow, null);
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));
        var stops = site.Agent.Client!.Stops;

        var first = await stops.StopAsync(new StopForFailover("w1", ["disk1"], 500, Quiesce: true, ClientsWaitMs: 1000), default);
        Assert.True(first.Failure == FailoverStopFailure.QuiesceRunning, $"got {first.Failure} ({first.Error}), want QuiesceRunning");
        Assert.Contains("running the freeze hooks", first.Error);
        Assert.False(site.Agent.Exports[0].ReadOnly, "read-only while the freeze still runs");
        var second = await stops.StopAsync(new StopForFailover("w2", ["disk1"], 10_000, Quiesce: true, ClientsWaitMs: 1000), default);
        Assert.True(second.Error is null, $"{second.Failure}: {second.Error}");
        Assert.Equal("w2", second.RequestId);
        // One run: the hook froze and thawed once, although two asks came.
        Assert.Equal(["slow freeze", "slow thaw"], TrailLines());

        // Through the node, which asks again on QuiesceRunning by itself: resumed first, then a fresh quiescing stop whose
        // budget (6.5 s, less the node's 5 s hop allowance) lets the agent wait only 1.5 s per answer, under the 2 s freeze.
        Assert.True((await new SourceStop(site.Target).ResumeAsync(["disk1"], TimeSpan.FromSeconds(10), default)).Ok);
        var viaNode = await new SourceStop(site.Target, m => { lock (site.Log) site.Log.Add(m); }).StopAsync(["disk1"], TimeSpan.FromSeconds(6.5), default, quiesce: true);
        Assert.True(viaNode.Ok, string.Join("; ", viaNode.Errors));
        Assert.Equal(4, TrailLines().Length);
        lock (site.Log) Assert.Contains(site.Log, l => l.Contains("source stop: quiesce of disk1: froze script", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failing_shutdown_command_refuses_the_stop_with_ShutdownFailed_after_thawing_and_nothing_is_read_only()
    {
        var hook = FreezeHook();
        var shutdown = Script("shutdown.sh", $"echo \"shutdown $1\" >> '{Trail}'\necho 'hypervisor unreachable' >&2\nexit 5");
        await using var site = await StartAsync("qdown", hook, shutdown);
        await File.WriteAllTextAsync(UriFile, site.NbdUri("disk1"));
        await site.CatchUpAsync(TimeSpan.FromSeconds(20));

        var r = await site.Agent.Client!.Stops.StopAsync(new StopForFailover("d1", ["disk1"], 5000, Quiesce: true, ClientsWaitMs: 1000), default);
        Assert.True(r.Failure == FailoverStopFailure.ShutdownFailed, $"got {r.Failure} ({r.Error}), want ShutdownFailed");
        Assert.Contains("exit 5", r.Error);
        Assert.Contains("hypervisor unreachable", r.Error);
        Assert.Equal(["hook freeze", "flush written", "shutdown shutdown", "hook thaw"], TrailLines());
        Assert.False(site.Agent.Exports[0].ReadOnly, "disk1 was made read-only by a refused stop");
    }

    [Fact]
    public void A_missing_or_not_executable_shutdown_command_stops_the_agent_at_start_naming_the_flag()
    {
        var missing = Assert.Throws<ArgumentException>(() => SiteRecovery.Agent.Consistency.ShutdownCommand.Validate(Path.Combine(_dir, "nope.sh")));
        Assert.Contains("--shutdown-command", missing.Message);
        Assert.Contains("does not exist", missing.Message);
        var plain = Path.Combine(_dir, "plain.sh");
        File.WriteAllText(plain, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("not executable", Assert.Throws<ArgumentException>(() => SiteRecovery.Agent.Consistency.ShutdownCommand.Validate(plain)).Message);
        Assert.Null(SiteRecovery.Agent.Consistency.ShutdownCommand.Validate(null));
    }

    [Fact]
    public void The_new_members_are_optional_on_the_wire_both_ways()
    {
        var stop = new StopForFailover("r1", ["a"], 1000, Quiesce: true, ClientsWaitMs: 2500);
        var back = Assert.IsType<StopForFailover>(ControlMessage.Parse(stop.ToBytes()));
        Assert.True(back.Quiesce);
        Assert.Equal(2500, back.ClientsWaitMs);
        // What an older node sends: no Quiesce, no ClientsWaitMs; a newer agent reads a plain stop.
        var old = Assert.IsType<StopForFailover>(ControlMessage.Parse("""{"type":"failover-stop","requestId":"r2","diskIds":["a"],"waitMs":1000}"""u8));
        Assert.False(old.Quiesce);
        Assert.Equal(30_000, old.ClientsWaitMs);
        // What an older agent answers: no Quiesce text; and an unknown member (a newer peer's) is skipped.
        var oldReply = Assert.IsType<StoppedForFailover>(ControlMessage.Parse("""{"type":"failover-stopped","requestId":"r2","lastSequences":{"a":7},"error":null,"future":1}"""u8));
        Assert.Null(oldReply.Quiesce);
        Assert.Equal(7, oldReply.LastSequences["a"]);
        var reply = new StoppedForFailover("r3", new Dictionary<string, long>(), "locked", FailoverStopFailure.FreezeFailed, "freeze Failed; thaw ok");
        Assert.Equal("freeze Failed; thaw ok", Assert.IsType<StoppedForFailover>(ControlMessage.Parse(reply.ToBytes())).Quiesce);
    }
}
