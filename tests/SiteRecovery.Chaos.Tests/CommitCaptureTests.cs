using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A commit on real parts: a planned failover of the tiny guest (boot disk and data disk) to the target node, then the
/// commit, which moves the running machine onto an agent at the target that serves its images without any process
/// server (the original site is not even running): the same qemu process runs on, its drives on the agent's NBD
/// exports, and what it writes from then on goes through the agent, which replicates nothing. The reprotect, later, adopts
/// that agent (same pid, the machine neither moved nor restarted), gives it the original site's process server and
/// releases its compare, which moves exactly the blocks written since the failover: the one written between the boot and
/// the commit and the one captured after it. The failback then leaves the original site holding the target's disks
/// byte for byte.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CommitCaptureTests
{
    const int Block = FailedOverMachine.Block;

    static Task<JsonNode> UntilAsync(Node node, string job, Func<JsonNode, bool> done, TimeSpan timeout) => FailoverTests.UntilAsync(node, job, done, timeout);

    static string Status(JsonNode job) => FailoverTests.Status(job);

    internal static bool Captured(JsonNode job) => job["history"]!.AsArray().Any(l => l!.GetValue<string>().Contains("Z captured: ", StringComparison.Ordinal)
        || l!.GetValue<string>().Contains("Z capture failed: ", StringComparison.Ordinal));

    [Fact]
    public async Task A_commit_moves_the_running_machine_onto_a_capturing_agent_that_the_reprotect_adopts_and_the_original_site_ends_byte_for_byte_equal()
    {
        using var site = await FailedOverMachine.StartAsync("commit-capture");
        var (dir, target, job) = (site.Dir, site.Target, site.Job);
        Node? original = null;
        int? agentPid = null;
        try
        {
            await site.Source.StopAsync();
            var machinePid = site.MachinePid;
            var console = site.Console;
            var dataDrive = site.Drive("vm1-data");
            var work = site.Work;
            var failedOverData = site.FailedOverImage("vm1-data");
            var failedOverBoot = site.FailedOverImage("vm1-boot");
            // Between the boot and the commit the machine writes its images directly: no agent sees this write.
            await JobProcesses.MachineWritesAsync(console, dataDrive, 1, 0xA1);

            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/commit", new { })).Status);
            var committed = await UntilAsync(target, job, Captured, TimeSpan.FromMinutes(2));
            Assert.True(Status(committed) == "Committed", committed.ToJsonString());
            Assert.Contains(committed["history"]!.AsArray(), l => l!.GetValue<string>().Contains("captured: vm1 on agent pid", StringComparison.Ordinal)
                && l.GetValue<string>().Contains("moved while running", StringComparison.Ordinal));

            // The same qemu runs on, its drives on the agent's exports; the agent has no process server.
            var folder = Path.Combine(work, "reverse-agent");
            agentPid = int.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "agent.pid")));
            Assert.True(JobProcesses.Runs(agentPid.Value, "--process-server-file"), "the commit's agent must run, without a process server");
            Assert.False(JobProcesses.Runs(agentPid.Value, "--process-server\0"), "the commit's agent must not have been given a process server");
            var machine = committed["machines"]!.AsArray().Single()!;
            Assert.Equal(machinePid, machine["pid"]!.GetValue<int>());
            Assert.True(JobProcesses.Runs(machinePid, job), $"the committed machine (pid {machinePid}) must still run");
            var nbd = machine["disks"]!.AsArray().Select(d => new Uri(d!["uri"]!.GetValue<string>()).Authority).Distinct().Single();
            Assert.All(machine["disks"]!.AsArray(), d => Assert.StartsWith($"nbd://{nbd}/", d!["uri"]!.GetValue<string>()));
            var port = nbd.Split(':')[1];
            var files = await JobProcesses.DriveFilesAsync(console);
            Assert.True(files.Values.All(f => f.Contains("nbd", StringComparison.Ordinal) && f.Contains(port, StringComparison.Ordinal)),
                $"every drive must be on the agent's exports at {nbd}: {string.Join(", ", files.Select(x => $"{x.Key}={x.Value}"))}");
            Assert.Single(File.ReadLines(console), l => l.Contains("SR-BOOTED", StringComparison.Ordinal));
            Assert.False(committed["boots"]!.AsArray().Single()!["restarted"]!.GetValue<bool>());

            // After the commit the machine's writes go through the agent, which captures them and sends nothing anywhere.
            await JobProcesses.MachineWritesAsync(console, dataDrive, 20, 0xB4);
            var agentLog = Path.Combine(folder, "agent.log");
            Assert.DoesNotContain(File.ReadLines(agentLog), l => l.Contains("connected to process server", StringComparison.Ordinal));
            Assert.Contains(File.ReadLines(agentLog), l => l.Contains("capturing: no process server until", StringComparison.Ordinal));

            // The original site, then the reprotect: the commit's agent is adopted, not replaced.
            original = site.OriginalSite();
            await original.StartAsync();
            var reprotect = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = original.PsAddress, api = original.ApiUrl });
            Assert.True(reprotect.Status == HttpStatusCode.OK, reprotect.Text);
            var reprotected = await UntilAsync(target, job, j => Status(j) is "Reprotected" or "Committed" && j["history"]!.AsArray().Last()!.GetValue<string>().Contains("reprotect"), TimeSpan.FromMinutes(4));
            Assert.True(Status(reprotected) == "Reprotected", reprotected.ToJsonString());
            var reverse = reprotected["reverseMachines"]![0]!;
            Assert.Equal(agentPid.Value, reverse["agentPid"]!.GetValue<int>());
            Assert.Equal(nbd, reverse["nbd"]!.GetValue<string>());
            Assert.Equal(machinePid, reprotected["machines"]!.AsArray().Single()!["pid"]!.GetValue<int>());
            Assert.True(JobProcesses.Runs(machinePid, job), "the machine must run on through the reprotect");
            Assert.Single(File.ReadLines(console), l => l.Contains("SR-BOOTED", StringComparison.Ordinal));
            // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
            await target.Process!.WaitForLineAsync(l => l.Contains("capturing agent of vm1", StringComparison.Ordinal) && l.Contains("adopted", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "capturing agent of vm1");
            // The captured write is in the agent's account; the compare moved exactly the two blocks written since the failover.
            Assert.Contains(File.ReadLines(agentLog), l => l.Contains($"disk vm1-data: captured {Block} bytes of writes", StringComparison.Ordinal));
            var moved = reverse["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!);
            Assert.Equal(2L * Block, moved["vm1-data"]["bytesSent"]!.GetValue<long>());
            Assert.Equal(0L, moved["vm1-boot"]["bytesSent"]!.GetValue<long>());

            // The failback drains the agent: the original site holds the target's images byte for byte.
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/failback", new { @return = false })).Status);
            var back = await UntilAsync(target, job, j => Status(j) is "FailedBack" or "Reprotected" && j["history"]!.AsArray().Last()!.GetValue<string>().Contains("fail"), TimeSpan.FromMinutes(3));
            Assert.True(Status(back) == "FailedBack", back.ToJsonString());
            var sums = back["failbackDisks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["sha256"]!.GetValue<string>());
            Assert.Equal(await GuestMachines.Sha256Async(failedOverData), sums["vm1-data"]);
            Assert.Equal(await GuestMachines.Sha256Async(failedOverBoot), sums["vm1-boot"]);
            var lastSequences = back["failbackDisks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["sequence"]!.GetValue<long>());
            foreach (var disk in new[] { "vm1-boot", "vm1-data" })
            {
                var point = await original.Api.PostAsync("api/recover", new { disk, sequence = lastSequences[disk], output = dir[$"orig-{disk}.img"] });
                Assert.True(point.Status == HttpStatusCode.OK, point.Text);
                Assert.Equal(sums[disk], point.Body!["sha256"]!.GetValue<string>());
            }
        }
        finally
        {
            original?.Dispose();
            if (agentPid is { } pid) JobProcesses.KillEach([pid], "--process-server-file");
            JobProcesses.KillAllOf(job);
        }
    }

    /// <summary>
    /// The capture is the commit's follow-up work, which a node killed in the middle of it repeats after its restart: the
    /// target node is SIGKILLed (its own pid only) as soon as the commit's agent serves, between the agent's start and the
    /// record of the move; the restarted node adopts that agent and leaves the running machine on it (one agent, one qemu,
    /// the same pids, one boot on the console), and records the move once.
    /// </summary>
    [Fact]
    public async Task A_node_killed_in_the_middle_of_a_commit_repeats_the_capture_on_the_same_running_machine_and_agent()
    {
        using var site = await FailedOverMachine.StartAsync("commit-capture-kill", dataDisk: false);
        var (target, job) = (site.Target, site.Job);
        var seen = new HashSet<int>();
        try
        {
            await site.Source.StopAsync();
            var machinePid = site.MachinePid;
            var console = site.Console;
            seen.Add(machinePid);
            var folder = site.ReverseAgentFolder;
            var agentLog = Path.Combine(folder, "agent.log");

            // The running machine is paused (SIGSTOP) over the commit, so the move onto the agent cannot finish before the
            // kill: its QMP greeting never comes. Without it the move of this small disk could end, and be recorded, in the
            // moments between the agent's line and the kill (1 run in CI, on a loaded machine).
            await ExternalTool.RunOkAsync("kill", ["-STOP", machinePid.ToString()], TimeSpan.FromSeconds(10));
            DateTimeOffset killAt;
            try
            {
                Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/commit", new { })).Status);
                var servingDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
                while (!(File.Exists(agentLog) && File.ReadAllText(agentLog).Contains("capturing: no process server until", StringComparison.Ordinal)))
                {
                    if (DateTime.UtcNow > servingDeadline) throw new TimeoutException($"the commit's agent did not start within 1 min\n{target.Logs(60)}");
                    await Task.Delay(10);
                }
                killAt = DateTimeOffset.UtcNow;
                await JobProcesses.CrashAsync(target);
            }
            finally
            {
                await ExternalTool.RunOkAsync("kill", ["-CONT", machinePid.ToString()], TimeSpan.FromSeconds(10));
            }
            var agents = JobProcesses.AgentsOf(folder);
            seen.UnionWith(agents);
            var agentPid = Assert.Single(agents);
            await target.StartAsync();

            // Nobody asks: the restarted node finds the capture owed in the job's journal and does it again.
            var committed = await UntilAsync(target, job, Captured, TimeSpan.FromMinutes(2));
            Assert.True(Status(committed) == "Committed", committed.ToJsonString());
            Assert.Equal(1, committed["history"]!.AsArray().Count(l => l!.GetValue<string>().Contains("Z captured: ", StringComparison.Ordinal)));
            Assert.DoesNotContain(committed["history"]!.AsArray(), l => l!.GetValue<string>().Contains("capture failed", StringComparison.Ordinal)
                || l.GetValue<string>().Contains("interrupted", StringComparison.Ordinal) || l.GetValue<string>().Contains("not moved", StringComparison.Ordinal));
            Assert.True(ReprotectNodeKillTests.RecordedAt(committed, "Z captured: ") > killAt,
                $"the capture was recorded before the kill at {killAt:O}, so the kill did not land mid-commit: {committed["history"]!.ToJsonString()}");
            Assert.Contains($"on agent pid {agentPid} ", committed["history"]!.AsArray().Select(l => l!.GetValue<string>()).Single(l => l.Contains("Z captured: ", StringComparison.Ordinal)));
            // One agent (the one the killed node started) and one qemu (the committed one, never restarted), on its exports.
            Assert.Equal([agentPid], JobProcesses.AgentsOf(folder));
            Assert.Equal([machinePid], JobProcesses.QemusOf(job));
            var machine = committed["machines"]!.AsArray().Single()!;
            Assert.Equal(machinePid, machine["pid"]!.GetValue<int>());
            var nbd = new Uri(machine["disks"]!.AsArray().Single()!["uri"]!.GetValue<string>()).Authority;
            Assert.All((await JobProcesses.DriveFilesAsync(console)).Values, f => Assert.Contains(nbd.Split(':')[1], f));
            Assert.Single(File.ReadLines(console), l => l.Contains("SR-BOOTED", StringComparison.Ordinal));
        }
        finally
        {
            seen.UnionWith(JobProcesses.QemusOf(job).Concat(JobProcesses.AgentsOf(site.ReverseAgentFolder)));
            JobProcesses.KillEach(seen, job);
        }
    }
}
