using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;
using static SiteRecovery.Chaos.Tests.Support.JobProcesses;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// The reprotect and the failback are steps a restarted node repeats, never rolls back: the round trip of
/// <see cref="ReprotectTests"/> on real nodes, agents and qemu, with the target node SIGKILLed once in the middle of
/// each (only its own pid, as a crash would: the reverse agent and the machine it made live on), and stopped with
/// SIGTERM once in the repeated reprotect, each time restarted on the same data directory. The committed machine has died
/// before the reprotect, so the reprotect takes its other path: it starts the machine again on the reverse agent's exports
/// (a running one is moved onto them live, <see cref="ReprotectTests"/>). Then the return, with the
/// failover site's node SIGKILLed while the original site starts the machine: the restarted job asks again, and the
/// original site keeps the agent and the machine it started (one of each), whose first sync moved only what changed.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ReprotectNodeKillTests
{
    const int Block = FailedOverMachine.Block;

    static Task<JsonNode> UntilAsync(Node node, string job, Func<JsonNode, bool> done, TimeSpan timeout) => FailoverTests.UntilAsync(node, job, done, timeout);

    static string Status(JsonNode job) => FailoverTests.Status(job);

    static int HistoryCount(JsonNode job, string text) => job["history"]!.AsArray().Count(l => l!.GetValue<string>().Contains(text, StringComparison.Ordinal));

    /// <summary>When the job's one history line holding <paramref name="text"/> was written (each line starts with its UTC time).</summary>
    internal static DateTimeOffset RecordedAt(JsonNode job, string text)
    {
        var line = job["history"]!.AsArray().Select(l => l!.GetValue<string>()).Single(l => l.Contains(text, StringComparison.Ordinal));
        return DateTimeOffset.Parse(line[..line.IndexOf(' ')], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task A_node_killed_or_stopped_during_the_reprotect_and_killed_during_the_failback_repeats_each_step_after_its_restart_with_one_agent_and_one_machine_and_loses_nothing()
    {
        using var site = await FailedOverMachine.StartAsync("reprotect-kill");
        var (dir, target, job, guestSha, done) = (site.Dir, site.Target, site.Job, site.GuestSha, site.Completed);
        var (boot, data) = (site.Boot, site.Data!);
        Node? original = null;
        // Every agent and qemu of the job this test saw, so the finally stops them by pid whatever failed.
        var seen = new HashSet<int>();
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/commit", new { })).Status);
            // The commit moves the machine onto its capturing agent first; the reprotect adopts that agent.
            await UntilAsync(target, job, CommitCaptureTests.Captured, TimeSpan.FromMinutes(2));
            await site.Source.StopAsync();
            var reverseFolder = site.ReverseAgentFolder;
            var failedOverData = site.FailedOverImage("vm1-data");
            var failedOverBoot = site.FailedOverImage("vm1-boot");
            foreach (var (index, fill) in new[] { (1, (byte)0xA1), (5, (byte)0xA5), (20, (byte)0xB4) }) await WriteBlockAsync(failedOverData, index, fill);
            // The committed machine dies (its qemu only, by its recorded pid).
            var committedPid = done["machines"]!.AsArray().Single()!["pid"]!.GetValue<int>();
            Assert.Equal([committedPid], QemusOf(job));
            System.Diagnostics.Process.GetProcessById(committedPid).Kill();
            var diedDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (QemusOf(job).Count > 0)
            {
                if (DateTime.UtcNow > diedDeadline) throw new TimeoutException($"qemu {committedPid} still runs 10 s after SIGKILL");
                await Task.Delay(20);
            }

            original = site.OriginalSite();
            await original.StartAsync();
            var reprotect = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = original.PsAddress, api = original.ApiUrl });
            Assert.True(reprotect.Status == HttpStatusCode.OK, reprotect.Text);

            // The kill lands once the reverse agent has done its first sync (both disks compared, the changed blocks
            // sent) while the machine boots on its disks: the step has made everything it makes, and not recorded it.
            var agentLog = Path.Combine(reverseFolder, "agent.log");
            var firstSyncDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            while (!(File.Exists(agentLog) && File.ReadAllLines(agentLog).Count(l => l.Contains("\"resync-complete\"", StringComparison.Ordinal)) >= 2))
            {
                if (DateTime.UtcNow > firstSyncDeadline) throw new TimeoutException($"the reverse agent did not finish its first sync within 2 min\n{target.Logs(60)}");
                await Task.Delay(50);
            }
            var beforeKill = (await target.Api.GetAsync($"api/failovers/{job}")).Body!;
            Assert.True(Status(beforeKill) == "Reprotecting", $"the kill must land in the reprotect, the job is {Status(beforeKill)}");
            var firstAgents = AgentsOf(reverseFolder);
            Assert.Single(firstAgents);
            seen.UnionWith(firstAgents);
            var killedWith = QemusOf(job);
            seen.UnionWith(killedWith);
            var firstKill = DateTimeOffset.UtcNow;
            await CrashAsync(target);
            Assert.Single(AgentsOf(reverseFolder));

            await target.StartAsync();

            // The repeated step is interrupted too, by a stop on purpose this time (SIGTERM, as for an upgrade), once the
            // restarted node has started the machine again on the agent's disks (a qemu the kill did not leave: the node
            // may start it before its API answers): the stopping node must leave the agent for the next start to keep,
            // as a killed one does.
            var machineAgainDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (QemusOf(job).Except(killedWith).ToList() is not [_])
            {
                if (DateTime.UtcNow > machineAgainDeadline) throw new TimeoutException($"the restarted node did not start the machine again within 1 min\n{target.Logs(60)}");
                await Task.Delay(50);
            }
            var beforeStopJob = (await target.Api.GetAsync($"api/failovers/{job}")).Body!;
            Assert.True(Status(beforeStopJob) == "Reprotecting", $"the stop must land in the reprotect, the job is {Status(beforeStopJob)}");
            seen.UnionWith(QemusOf(job));
            var stopAt = DateTimeOffset.UtcNow;
            await target.StopAsync();
            await target.StartAsync();

            var reprotected = await UntilAsync(target, job, j => Status(j) is "Reprotected" or "Committed", TimeSpan.FromMinutes(4));
            Assert.True(Status(reprotected) == "Reprotected", reprotected.ToJsonString());
            Assert.Equal(0, HistoryCount(reprotected, "reprotect failed"));
            Assert.Equal(1, HistoryCount(reprotected, "reprotected:"));
            // Recorded by the last start of the node: neither the killed one nor the stopped one had finished the step.
            Assert.True(RecordedAt(reprotected, "reprotected:") > stopAt, $"reprotected before the stop at {stopAt:O} (kill at {firstKill:O}): {reprotected["history"]!.ToJsonString()}");
            var reverse = reprotected["reverseMachines"]!.AsArray().Single()!;
            var agentPid = reverse["agentPid"]!.GetValue<int>();
            var machine = reprotected["machines"]!.AsArray().Single()!;
            var machinePid = machine["pid"]!.GetValue<int>();
            seen.UnionWith(AgentsOf(reverseFolder));
            seen.UnionWith(QemusOf(job));
            // One agent for the machine (the one the job recorded) and one qemu (on that agent's disks): nothing doubled, nothing orphaned.
            Assert.Equal([agentPid], AgentsOf(reverseFolder));
            Assert.Equal([machinePid], QemusOf(job));
            Assert.All(machine["disks"]!.AsArray(), d => Assert.StartsWith($"nbd://{reverse["nbd"]}", d!["uri"]!.GetValue<string>()));
            // What the reprotect moved, across the kill: the three blocks written at the target, nothing of the boot disk.
            var moved = reverse["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!);
            Assert.Equal(3L * Block, moved["vm1-data"]["bytesSent"]!.GetValue<long>());
            Assert.Equal(0L, moved["vm1-boot"]["bytesSent"]!.GetValue<long>());
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={guestSha}", reprotected["boots"]!.AsArray().Single()!["guestCheck"]!.GetValue<string>());
            // Booted again, by the path for a machine that does not run, which the node's log names.
            Assert.Null(reprotected["boots"]!.AsArray().Single()!["restarted"]);
            // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
            await target.Process!.WaitForLineAsync(l => l.Contains("restarted on its reverse agent's exports (it was not running", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "restarted on its reverse agent's exports (it was not running");

            var nbd = reverse["nbd"]!.GetValue<string>();
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", $"nbd://{nbd}/vm1-data", "-c", $"write -P 0xC9 {9 * Block} 1M"], TimeSpan.FromMinutes(1));

            // The failback is killed as soon as it has stopped the machine, before it records anything: the restarted node
            // repeats the step on a machine already gone and an agent it may still have to drain. The original site is
            // paused (SIGSTOP) meanwhile: the failback stops the machine first and then cannot finish its drain to a site
            // that does not answer, so the kill always lands inside it (with little to drain it could otherwise finish
            // between the machine's stop and the kill: 1 run in 3 did, in CI).
            var originalPid = original!.Process!.Pid.ToString();
            await ExternalTool.RunOkAsync("kill", ["-STOP", originalPid], TimeSpan.FromSeconds(10));
            DateTimeOffset secondKill;
            try
            {
                Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/failback", new { @return = false })).Status);
                var machineStopDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
                while (CommandLine(machinePid)?.Any(a => a.Contains(job, StringComparison.Ordinal)) == true)
                {
                    if (DateTime.UtcNow > machineStopDeadline) throw new TimeoutException($"the failback did not stop the machine (pid {machinePid}) within 1 min\n{target.Logs(60)}");
                    await Task.Delay(20);
                }
                var failingBack = (await target.Api.GetAsync($"api/failovers/{job}")).Body!;
                Assert.True(Status(failingBack) == "FailingBack", $"the kill must land in the failback, the job is {Status(failingBack)}");
                secondKill = DateTimeOffset.UtcNow;
                await CrashAsync(target);
            }
            finally
            {
                await ExternalTool.RunOkAsync("kill", ["-CONT", originalPid], TimeSpan.FromSeconds(10));
            }

            await target.StartAsync();
            var back = await UntilAsync(target, job, j => Status(j) is "FailedBack" or "Reprotected", TimeSpan.FromMinutes(3));
            Assert.True(Status(back) == "FailedBack", back.ToJsonString());
            Assert.Equal(0, HistoryCount(back, "failback failed"));
            Assert.True(RecordedAt(back, "failed back:") > secondKill, $"failed back before the kill at {secondKill:O}: {back["history"]!.ToJsonString()}");
            Assert.Empty(AgentsOf(reverseFolder));
            Assert.Empty(QemusOf(job));
            var sums = back["failbackDisks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["sha256"]!.GetValue<string>());
            Assert.Equal(await GuestMachines.Sha256Async(failedOverData), sums["vm1-data"]);
            Assert.Equal(await GuestMachines.Sha256Async(failedOverBoot), sums["vm1-boot"]);
            // The original disks are the target's byte for byte once the original site lets go of them.
            await original.StopAsync();
            Assert.Equal(sums["vm1-data"], await GuestMachines.Sha256Async(data));
            Assert.Equal(sums["vm1-boot"], await GuestMachines.Sha256Async(boot));

            // The return, with the failover site's node killed as soon as the original site has started the machine's agent.
            await original.StartAsync();
            var returnFolder = Path.Combine(original.DataDir, "returns", job, "vm1", "agent");
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/return", new { })).Status);
            var agentDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (AgentsOf(returnFolder).Count == 0)
            {
                if (DateTime.UtcNow > agentDeadline) throw new TimeoutException($"the original site started no agent within 1 min\n{original.Logs(60)}");
                await Task.Delay(20);
            }
            var thirdKill = DateTimeOffset.UtcNow;
            await CrashAsync(target);
            await target.StartAsync();
            var home = await UntilAsync(target, job, j => Status(j) == "Returned" || HistoryCount(j, "return failed") > 0, TimeSpan.FromMinutes(4));
            Assert.True(Status(home) == "Returned", home.ToJsonString());
            Assert.True(RecordedAt(home, "returned:") > thirdKill, $"returned before the kill at {thirdKill:O}: {home["history"]!.ToJsonString()}");
            var returned = home["returned"]!.AsArray().Single()!;
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={guestSha}", returned["guestCheck"]!.GetValue<string>());
            // One agent and one machine at the original site: the repeated return kept what the first attempt started.
            Assert.Equal([returned["agentPid"]!.GetValue<int>()], AgentsOf(returnFolder));
            var originalQemus = QemusOf(job).Where(pid => CommandLine(pid)!.Any(a => a.Contains(original.DataDir, StringComparison.Ordinal))).ToList();
            Assert.Equal([returned["machinePid"]!.GetValue<int>()], originalQemus);
            seen.UnionWith(originalQemus.Append(returned["agentPid"]!.GetValue<int>()));
            var movedBack = returned["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["bytesSent"]!.GetValue<long>());
            Assert.Equal(4L * Block, movedBack["vm1-data"]);
            Assert.Equal(0L, movedBack["vm1-boot"]);
        }
        finally
        {
            original?.Dispose();
            await target.StopAsync();
            seen.UnionWith(QemusOf(job).Concat(AgentsOf(site.ReverseAgentFolder)));
            KillEach(seen, job);
        }
    }

    /// <summary>
    /// The live path repeated: the committed machine runs, the node is SIGKILLed as soon as its reverse agent starts held
    /// (somewhere between the agent's start and the step's record: before, during or after the drive pivot), restarted on
    /// the same data directory; the repeated step keeps the agent and the running machine (same pid, never restarted: one
    /// boot on its console), and the compare still moves only what changed.
    /// </summary>
    [Fact]
    public async Task A_node_killed_during_a_live_reprotect_repeats_it_on_the_same_running_machine_and_agent()
    {
        using var site = await FailedOverMachine.StartAsync("reprotect-live-kill", seedData: false);
        var (dir, target, job, guestSha) = (site.Dir, site.Target, site.Job, site.GuestSha);
        Node? original = null;
        var seen = new HashSet<int>();
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/commit", new { })).Status);
            await UntilAsync(target, job, CommitCaptureTests.Captured, TimeSpan.FromMinutes(2));
            await site.Source.StopAsync();
            var machinePid = site.MachinePid;
            var console = site.Console;
            seen.Add(machinePid);
            var reverseFolder = site.ReverseAgentFolder;
            foreach (var (index, fill) in new[] { (2, (byte)0xB2), (6, (byte)0xB6) }) await WriteBlockAsync(site.FailedOverImage("vm1-data"), index, fill);

            original = site.OriginalSite();
            await original.StartAsync();
            var reprotect = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = original.PsAddress, api = original.ApiUrl });
            Assert.True(reprotect.Status == HttpStatusCode.OK, reprotect.Text);
            // The commit's agent (held since the commit) is adopted and given its process server: the kill lands then,
            // somewhere between that and the step's record (before, during or after the release and the compare).
            var given = Path.Combine(reverseFolder, "process-server");
            var heldDeadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (!File.Exists(given))
            {
                if (DateTime.UtcNow > heldDeadline) throw new TimeoutException($"the commit's agent was not given its process server within 1 min\n{target.Logs(60)}");
                await Task.Delay(20);
            }
            var killAt = DateTimeOffset.UtcNow;
            await CrashAsync(target);
            seen.UnionWith(AgentsOf(reverseFolder));
            Assert.Equal([machinePid], QemusOf(job));
            await target.StartAsync();

            var reprotected = await UntilAsync(target, job, j => Status(j) is "Reprotected" or "Committed", TimeSpan.FromMinutes(4));
            Assert.True(Status(reprotected) == "Reprotected", reprotected.ToJsonString());
            Assert.Equal(0, HistoryCount(reprotected, "reprotect failed"));
            // Recorded by the restarted node: the killed one had not finished the step.
            Assert.True(RecordedAt(reprotected, "reprotected:") > killAt, $"reprotected before the kill at {killAt:O}: {reprotected["history"]!.ToJsonString()}");
            var reverse = reprotected["reverseMachines"]!.AsArray().Single()!;
            seen.Add(reverse["agentPid"]!.GetValue<int>());
            Assert.Equal([reverse["agentPid"]!.GetValue<int>()], AgentsOf(reverseFolder));
            // The same machine, moved while it ran, on the agent's exports; one boot on its console.
            var machine = reprotected["machines"]!.AsArray().Single()!;
            Assert.Equal(machinePid, machine["pid"]!.GetValue<int>());
            Assert.Equal([machinePid], QemusOf(job));
            Assert.All(machine["disks"]!.AsArray(), d => Assert.StartsWith($"nbd://{reverse["nbd"]}", d!["uri"]!.GetValue<string>()));
            Assert.False(reprotected["boots"]!.AsArray().Single()!["restarted"]!.GetValue<bool>());
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={guestSha}", reprotected["boots"]!.AsArray().Single()!["guestCheck"]!.GetValue<string>());
            Assert.Single(File.ReadLines(console), l => l.Contains("SR-BOOTED", StringComparison.Ordinal));
            var moved = reverse["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!);
            Assert.Equal(2L * Block, moved["vm1-data"]["bytesSent"]!.GetValue<long>());
            Assert.Equal(0L, moved["vm1-boot"]["bytesSent"]!.GetValue<long>());
        }
        finally
        {
            original?.Dispose();
            await target.StopAsync();
            seen.UnionWith(QemusOf(job).Concat(AgentsOf(site.ReverseAgentFolder)));
            KillEach(seen, job);
        }
    }
}
