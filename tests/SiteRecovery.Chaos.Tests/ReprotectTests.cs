using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A round trip on real parts: a planned failover of a machine (the tiny guest on a boot disk, plus a data disk) to the
/// target node, committed; the machine writes at the target; reprotect to the original site (a second node whose
/// master target keeps the machine's original disk files as its replicas) moves only the blocks that changed, while the
/// machine moves onto its reverse agent without a restart (same process, one boot on its console) and writes through it;
/// the failback drains it and the original files then
/// are the target's disks byte for byte; the return starts the machine at the original site on those files, behind an
/// agent the original node starts with --compare-with-replica, which sends the target only what changed while the
/// machine was away, so the target's latest state is the original disk again and the machine boots and checks itself.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ReprotectTests
{
    const int DataMb = FailedOverMachine.DataMb;
    const int Block = FailedOverMachine.Block;

    static Task<JsonNode> UntilAsync(Node node, string job, Func<JsonNode, bool> done, TimeSpan timeout) => FailoverTests.UntilAsync(node, job, done, timeout);

    static string Status(JsonNode job) => FailoverTests.Status(job);

    [Fact]
    public async Task A_committed_failover_is_reprotected_with_only_the_changed_blocks_fails_back_losing_nothing_and_the_original_direction_resumes_by_compare()
    {
        // Every hop requires mutual TLS: the reverse agent the target starts, and the return's agent the original node
        // starts, hold certificates of the site (the target certifies its own, the original node registers its).
        using var site = await FailedOverMachine.StartAsync("reprotect", requireTls: true);
        var (dir, target, job, guestSha) = (site.Dir, site.Target, site.Job, site.GuestSha);
        var (boot, data) = (site.Boot, site.Data!);
        Node? original = null;
        int? reversePid = null;
        try
        {
            // Not committed yet: nothing to protect back.
            var early = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = "127.0.0.1:1", api = "http://127.0.0.1:1" });
            Assert.Equal(HttpStatusCode.Conflict, early.Status);
            Assert.Contains("is not committed: commit it first", early.Error);
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/commit", new { })).Status);
            // The commit moves the machine onto its capturing agent first; the reprotect adopts that agent.
            await UntilAsync(target, job, CommitCaptureTests.Captured, TimeSpan.FromMinutes(2));
            // The source machine is shut down: its agent stops (cleanly, read-only since the failover's stop).
            await site.Source.StopAsync();
            var failedOverData = site.FailedOverImage("vm1-data");
            var failedOverBoot = site.FailedOverImage("vm1-boot");
            Assert.Equal(await GuestMachines.Sha256Async(data), await GuestMachines.Sha256Async(failedOverData));

            // The machine writes at the target before it is protected back: three blocks of its data disk, the last
            // through its own block layer.
            var machinePid = site.MachinePid;
            var console = site.Console;
            var dataDrive = site.Drive("vm1-data");
            foreach (var (index, fill) in new[] { (1, (byte)0xA1), (5, (byte)0xA5) }) await JobProcesses.WriteBlockAsync(failedOverData, index, fill);
            await JobProcesses.MachineWritesAsync(console, dataDrive, 20, 0xB4);

            // The original site: a process server and a master target whose replicas are the machine's original disks.
            original = site.OriginalSite();
            await original.StartAsync();
            var badTarget = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = "orig-site", api = original.ApiUrl });
            Assert.Equal(HttpStatusCode.BadRequest, badTarget.Status);
            Assert.Contains("ProcessServer must be HOST:PORT", badTarget.Error);
            // A site this node holds no token for: its failback could not call it, so the reprotect is refused up front.
            var unknownSite = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = original.PsAddress, api = "http://127.0.0.1:1" });
            Assert.Equal(HttpStatusCode.BadRequest, unknownSite.Status);
            Assert.Contains("no token for the API at http://127.0.0.1:1", unknownSite.Error);
            Assert.Contains("--peer-tokens", unknownSite.Error);
            Assert.Equal("Committed", Status((await target.Api.GetAsync($"api/failovers/{job}")).Body!));
            var reprotect = await target.Api.PostAsync($"api/failovers/{job}/reprotect", new { processServer = original.PsAddress, api = original.ApiUrl });
            Assert.True(reprotect.Status == HttpStatusCode.OK, reprotect.Text);
            var reprotected = await UntilAsync(target, job, j => Status(j) is "Reprotected" or "Committed" && j["history"]!.AsArray().Count > 0
                && j["history"]!.AsArray().Last()!.GetValue<string>().Contains("reprotect"), TimeSpan.FromMinutes(4));
            Assert.True(Status(reprotected) == "Reprotected", reprotected.ToJsonString());
            var reverse = reprotected["reverseMachines"]![0]!;
            reversePid = reverse["agentPid"]!.GetValue<int>();
            var moved = reverse["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!);
            // Only what changed since the failover moved: three 1 MiB blocks of the data disk, nothing of the boot disk.
            Assert.Equal(3L * Block, moved["vm1-data"]["bytesSent"]!.GetValue<long>());
            Assert.Equal(0L, moved["vm1-boot"]["bytesSent"]!.GetValue<long>());
            Assert.Equal((long)DataMb << 20, moved["vm1-data"]["sizeBytes"]!.GetValue<long>());
            // The machine runs on its reverse agent's disks now: the same process, moved while it ran, not restarted (its
            // console shows its one boot, and the check it made then).
            var machine = reprotected["machines"]!.AsArray().Single()!;
            Assert.All(machine["disks"]!.AsArray(), d => Assert.StartsWith($"nbd://{reverse["nbd"]}", d!["uri"]!.GetValue<string>()));
            Assert.Equal(machinePid, machine["pid"]!.GetValue<int>());
            Assert.True(JobProcesses.Runs(machinePid, job), $"the committed machine (pid {machinePid}) must still run");
            var moveBoot = reprotected["boots"]!.AsArray().Single()!;
            Assert.False(moveBoot["restarted"]!.GetValue<bool>(), moveBoot.ToJsonString());
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={guestSha}", moveBoot["guestCheck"]!.GetValue<string>());
            Assert.Single(File.ReadLines(console), l => l.Contains("SR-BOOTED", StringComparison.Ordinal));
            // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
            await target.Process!.WaitForLineAsync(l => l.Contains("moved onto its reverse agent's exports while running", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "moved onto its reverse agent's exports while running");
            Assert.True(JobProcesses.Runs(reversePid.Value, "--compare-with-replica"));
            Assert.True(JobProcesses.Runs(reversePid.Value, "--hold-first-sync"));
            // It replicates over mutual TLS, with the certificate the target's authority gave it before it started.
            await original.Process!.WaitForLineAsync(l => l.Contains("TLS as agent vm1", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the reverse agent's TLS connection");
            Assert.DoesNotContain(original.Process.Lines, l => l.Contains(nameof(SiteRecovery.Connections.HopRefusal.TlsRequired), StringComparison.Ordinal));

            // What the machine writes now goes through the agent to the original site (the failback's comparison of the
            // original site's point with the image below fails for a write that bypassed it).
            await JobProcesses.MachineWritesAsync(console, dataDrive, 12, 0xD2);

            // Writes the machine makes now are captured and replicated to the original site.
            var nbd = reverse["nbd"]!.GetValue<string>();
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", $"nbd://{nbd}/vm1-data", "-c", $"write -P 0xC9 {9 * Block} 1M"], TimeSpan.FromMinutes(1));

            // Failback without the return: the machine stops here, every write drains to the original site, whose disks then
            // are the target's (the return follows below, once the original site's points are checked).
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/failback", new { @return = false })).Status);
            var back = await UntilAsync(target, job, j => Status(j) is "FailedBack" or "Reprotected" && j["history"]!.AsArray().Last()!.GetValue<string>().Contains("fail"), TimeSpan.FromMinutes(3));
            Assert.True(Status(back) == "FailedBack", back.ToJsonString());
            Assert.False(JobProcesses.Runs(reversePid.Value, "--compare-with-replica"), "the reverse agent must be gone after the failback");
            Assert.False(JobProcesses.Runs(machine["pid"]!.GetValue<int>(), job), "the machine must be stopped at the target after the failback");
            var sums = back["failbackDisks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["sha256"]!.GetValue<string>());
            Assert.Equal(await GuestMachines.Sha256Async(failedOverData), sums["vm1-data"]);
            Assert.Equal(await GuestMachines.Sha256Async(failedOverBoot), sums["vm1-boot"]);
            // A point at the original site is the original disk plus what replicated back, never zeroes plus it: its
            // retention started from the adopted file.
            var lastSequences = back["failbackDisks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!["sequence"]!.GetValue<long>());
            foreach (var disk in new[] { "vm1-boot", "vm1-data" })
            {
                var point = await original.Api.PostAsync("api/recover", new { disk, sequence = lastSequences[disk], output = dir[$"orig-{disk}.img"] });
                Assert.True(point.Status == HttpStatusCode.OK, point.Text);
                Assert.Equal(sums[disk], point.Body!["sha256"]!.GetValue<string>());
            }
            var twice = await target.Api.PostAsync($"api/failovers/{job}/failback", new { });
            Assert.Equal(HttpStatusCode.Conflict, twice.Status);
            Assert.Contains("return its machines there with a return", twice.Error);

            // The return: the original node gives the files back from its master target, serves them with an agent that
            // replicates to the target again, comparing first (the target's replicas hold the state of the failover: only
            // the five blocks written while the machine was away travel), and boots the machine on them.
            var beforeReturn = target.Process!.Lines.Count;
            Assert.Equal(HttpStatusCode.OK, (await target.Api.PostAsync($"api/failovers/{job}/return", new { })).Status);
            var home = await UntilAsync(target, job, j => Status(j) is "Returned" || Status(j) == "FailedBack" && j["history"]!.AsArray().Last()!.GetValue<string>().Contains("return failed"), TimeSpan.FromMinutes(4));
            Assert.True(Status(home) == "Returned", home.ToJsonString());
            var returned = home["returned"]!.AsArray().Single()!;
            Assert.Equal(original.ApiUrl, returned["site"]!.GetValue<string>());
            Assert.True(returned["booted"]!.GetValue<bool>(), returned.ToJsonString());
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={guestSha}", returned["guestCheck"]!.GetValue<string>());
            var originalAgent = returned["agentPid"]!.GetValue<int>();
            // The return's agent, registered by the original node with the target's configuration server, is served over TLS.
            await original.Process.WaitForLineAsync(l => l.Contains("agent vm1 registered with configuration server cs1", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the return agent's registration");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!target.Process.Lines.Skip(beforeReturn).Any(l => l.Contains("TLS as agent vm1", StringComparison.Ordinal)))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the return's agent never connected over TLS\n{target.Logs(60)}");
                await Task.Delay(200);
            }
            Assert.True(JobProcesses.Runs(originalAgent, "--compare-with-replica"), "the original site's agent must run, comparing with the target's replicas");
            Assert.True(JobProcesses.Runs(returned["machinePid"]!.GetValue<int>(), job), "the machine must run at the original site");
            var movedBack = returned["disks"]!.AsArray().ToDictionary(d => d!["diskId"]!.GetValue<string>(), d => d!);
            Assert.Equal(5L * Block, movedBack["vm1-data"]["bytesSent"]!.GetValue<long>());
            Assert.Equal(0L, movedBack["vm1-boot"]["bytesSent"]!.GetValue<long>());
            // The original site's master target let go of the files for good: it names why when asked for a point of them.
            var refused = await original.Api.PostAsync("api/recover", new { disk = "vm1-data", sequence = lastSequences["vm1-data"], output = dir["refused.img"] });
            Assert.NotEqual(HttpStatusCode.OK, refused.Status);
            Assert.Contains("was given back to its machine at this site", refused.Error);
            Assert.False(File.Exists(dir["refused.img"]));
            Assert.Equal(HttpStatusCode.Conflict, (await target.Api.PostAsync($"api/failovers/{job}/return", new { })).Status);
            // The original files are the target's disks byte for byte (the master target let go of them; the guest only reads).
            Assert.Equal(sums["vm1-data"], await GuestMachines.Sha256Async(data));
            Assert.Equal(sums["vm1-boot"], await GuestMachines.Sha256Async(boot));

            // The original direction again: the target's latest state is the original disk, written back by the return's agent.
            await target.BookmarkAsync("home-again", ["vm1-boot", "vm1-data"], TimeSpan.FromSeconds(60));
            Assert.Equal(await GuestMachines.Sha256Async(data), await target.RecoverAsync("vm1-data", "home-again", dir["home-data.img"]));
            Assert.Equal(await GuestMachines.Sha256Async(boot), await target.RecoverAsync("vm1-boot", "home-again", dir["home-boot.img"]));
            // The machine and its agent outlive the original node, as they outlived the target's.
            await original.StopAsync();
            Assert.True(JobProcesses.Runs(originalAgent, "--compare-with-replica"));
        }
        finally
        {
            original?.Dispose();
            if (reversePid is { } pid) JobProcesses.KillEach([pid], "--compare-with-replica");
            JobProcesses.KillAllOf(job);
        }
    }

    /// <summary>
    /// The hold on its own parts: a running qemu on an image file (a boot sector that spins: no OS needed), a real sragent
    /// held with <c>--hold-first-sync</c> serving that file towards a real original site, the drive moved live onto the
    /// agent. The machine writes past the agent after it started (before the pivot), through it during the hold, and
    /// through it after the compare; the compare starts only at the release, and the original site ends up holding the
    /// file byte for byte: no write of the three is missed.
    /// </summary>
    [Fact]
    public async Task A_held_reverse_agent_compares_only_once_released_after_the_live_move_and_misses_no_write_the_machine_made()
    {
        const int DiskMb = 16;
        using var dir = new TempDir("reprotect-hold");
        var original = dir["orig.img"];
        var image = dir["live.img"];
        var bytes = System.Security.Cryptography.RandomNumberGenerator.GetBytes(DiskMb << 20);
        // jmp $ and the boot signature: firmware boots it and the machine spins there.
        Array.Clear(bytes, 0, 512);
        (bytes[0], bytes[1], bytes[510], bytes[511]) = ((byte)0xEB, (byte)0xFE, (byte)0x55, (byte)0xAA);
        await File.WriteAllBytesAsync(original, bytes);
        await File.WriteAllBytesAsync(image, bytes);
        // What changed at the target since the failover.
        foreach (var (index, fill) in new[] { (1, (byte)0xA1), (3, (byte)0xA3) }) await JobProcesses.WriteBlockAsync(image, index, fill);

        using var site = new Node("orig", "process-server,master-target", dir["o"], dir.Path, null, "--replica-file", $"d0={original}");
        await site.StartAsync();
        var compute = new SiteRecovery.Compute.Local.LocalQemuTarget();
        var spec = new SiteRecovery.Compute.MachineSpec("m-hold", "hold", 256, 1, "bios", SiteRecovery.Compute.NetworkMode.None, null, dir["machine"]);
        var machine = await compute.StartAsync(spec, [new SiteRecovery.Compute.DiskSource("d0", new Uri(image).AbsoluteUri, (long)DiskMb << 20)], CancellationToken.None);
        var release = dir["first-sync.release"];
        using var agent = new Agent("hold", new Dictionary<string, string> { ["d0"] = image }, site.PsAddress, dir["agent"], dir.Path);
        agent.ExtraArgs.AddRange(["--compare-with-replica", "--hold-first-sync", release]);
        try
        {
            await agent.StartAsync();
            // An unheld agent's compare of this disk would be over well within this wait (it takes under a second here),
            // and the write below, past the agent, would then be missed.
            await Assert.ThrowsAsync<TimeoutException>(() => agent.Process!.WaitForLineAsync(l => l.Contains("\"resync-complete\"", StringComparison.Ordinal), TimeSpan.FromSeconds(5), "a compare"));
            // Past the agent: the machine still runs on the file.
            await JobProcesses.MachineWritesAsync(machine.ConsolePath, "disk0", 5, 0xE5);
            await compute.MoveDisksOntoServedAsync(machine, [new SiteRecovery.Compute.DiskSource("d0", agent.Uri("d0"), (long)DiskMb << 20)], TimeSpan.FromMinutes(1), CancellationToken.None);
            // Through the agent, still held.
            await JobProcesses.MachineWritesAsync(machine.ConsolePath, "disk0", 7, 0xE7);
            await Task.Delay(1000);
            // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
            await agent.Process!.WaitForLineAsync(l => l.Contains("first sync held until", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "first sync held until");
            Assert.False(agent.Process.HasLine(l => l.Contains("resync started", StringComparison.Ordinal)), "the compare started before the release\n" + agent.Logs());

            await File.WriteAllTextAsync(release, "");
            var complete = await agent.Process.WaitForLineAsync(l => l.Contains("\"resync-complete\"", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "the compare's end");
            var sent = JsonNode.Parse(complete)!["bytesSent"]!.GetValue<long>();
            // Blocks 1, 3 and 5 differ from the original for certain; 7 went as a delta too, and is sent again unless the
            // original site had applied it before it answered the hashes.
            Assert.InRange(sent, 3L * Block, 4L * Block);
            await JobProcesses.MachineWritesAsync(machine.ConsolePath, "disk0", 9, 0xE9);
            Assert.True(compute.IsRunning(machine), "the machine must run on through the move");

            await compute.StopAsync(machine, CancellationToken.None);
            await agent.StopAsync();
            var state = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir["agent"], "d0.state.json")))!;
            Assert.True(state["Clean"]!.GetValue<bool>(), state.ToJsonString());
            var last = state["LastSequence"]!.GetValue<long>();
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (await site.AppliedAsync("d0") < last)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the original site did not apply d0 through #{last} within 1 min\n{site.Logs()}");
                await Task.Delay(100);
            }
            await site.StopAsync();
            Assert.Equal(await GuestMachines.Sha256Async(image), await GuestMachines.Sha256Async(original));
        }
        finally
        {
            await compute.StopAsync(machine, CancellationToken.None);
        }
    }
}
