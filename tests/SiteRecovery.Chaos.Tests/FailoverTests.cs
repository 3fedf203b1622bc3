using System.Net;
using System.Text.Json.Nodes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Test failover end to end on real parts: srnode and sragent processes, the tiny guest booting under qemu straight
/// from the NBD export of its point, a recovery plan with two boot groups, a manual action and a script; the guest
/// checks its own data on its console, the drill report compares each disk on two paths, and the cleanup must leave
/// nothing behind. Then a node killed while a machine boots.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FailoverTests
{
    const int DiskMb = 64;

    internal sealed record Machine(string Id, string Disk, Agent Agent, string Path, string GuestSha);

    static Task<(Node Node, List<Machine> Machines)> SiteAsync(TempDir dir, params string[] machineIds) => SiteAsync(dir, 0, machineIds);

    /// <summary>A node and one agent per machine: its boot disk is the tiny guest; with <paramref name="dataDiskMb"/> a data disk <c>ID-data</c> too.</summary>
    static Task<(Node Node, List<Machine> Machines)> SiteAsync(TempDir dir, int dataDiskMb, params string[] machineIds) => SiteWithSettingsAsync(dir, dataDiskMb, "", machineIds);

    /// <summary>As above, with more failover settings for the node (HOCON inside <c>siterecovery.failover { }</c>).</summary>
    internal static async Task<(Node Node, List<Machine> Machines)> SiteWithSettingsAsync(TempDir dir, int dataDiskMb, string failoverSettings, params string[] machineIds)
    {
        var scripts = dir["scripts"];
        Directory.CreateDirectory(scripts);
        File.SetUnixFileMode(scripts, (UnixFileMode)0b111_101_101);
        Script(scripts, "warm.sh", "#!/bin/sh\necho \"warmed for $SR_JOB_ID\"\n");
        Script(scripts, "hang.sh", "#!/bin/sh\nsleep 600\n");
        Script(scripts, "fails.sh", "#!/bin/sh\necho 'cache cluster unreachable' >&2\nexit 3\n");
        var conf = dir["failover.conf"];
        await File.WriteAllTextAsync(conf, $"siterecovery.failover {{ scripts-directory = \"{scripts}\", boot-timeout = 150s\n{failoverSettings}\n}}\n");
        var node = new Node("fo", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        var machines = new List<Machine>();
        var seed = 1;
        foreach (var id in machineIds)
        {
            var disk = $"{id}-boot";
            var path = dir[$"{disk}.img"];
            await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(DiskMb << 20);
            var disks = new Dictionary<string, string> { [disk] = path };
            if (dataDiskMb > 0)
            {
                disks[$"{id}-data"] = dir[$"{id}-data.img"];
                await using var d = new FileStream(disks[$"{id}-data"], FileMode.Create);
                d.SetLength((long)dataDiskMb << 20);
            }
            var agent = new Agent(id, disks, node.PsAddress, dir[$"agent-{id}"], dir.Path);
            await agent.StartAsync();
            var sha = await GuestMachines.SeedAsync(agent.Uri(disk), dir.Path, seed++);
            // Durable at the target: "latest" then covers every write of the seed.
            await node.BookmarkAsync($"seeded-{id}", [.. disks.Keys], TimeSpan.FromSeconds(60));
            machines.Add(new Machine(id, disk, agent, path, sha));
        }
        var vault = await node.Api.PostAsync("api/vaults", new { name = "drills", region = "WestEurope" });
        Assert.True(vault.Status == HttpStatusCode.OK, vault.Text);
        return (node, machines);
    }

    static void Script(string dir, string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    internal static async Task<JsonNode> UntilAsync(Node node, string job, Func<JsonNode, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var r = await node.Api.GetAsync($"api/failovers/{job}");
            Assert.True(r.Status == HttpStatusCode.OK, r.Text);
            if (done(r.Body!)) return r.Body!;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {job} is {r.Body!["status"]}: {string.Join("\n", r.Body["history"]!.AsArray())}\n{node.Logs(60)}");
            await Task.Delay(250);
        }
    }

    internal static string Status(JsonNode job) => job["status"]!.GetValue<string>();

    internal static bool QemuOfJobRuns(string job) => Directory.EnumerateDirectories("/proc").Any(d =>
    {
        try { return int.TryParse(Path.GetFileName(d), out _) && File.ReadAllText(Path.Combine(d, "cmdline")).Contains(job, StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    });

    [Fact]
    public async Task A_three_machine_plan_boots_group_after_group_verifies_its_data_in_isolation_and_its_cleanup_leaves_nothing()
    {
        using var dir = new TempDir("failover-plan");
        var (node, machines) = await SiteAsync(dir, "vm1", "vm2", "vm3");
        using var _ = node;
        try
        {
            var plan = await node.Api.PostAsync("api/recovery-plans", new
            {
                planId = "three",
                vault = "drills",
                groups = new object[]
                {
                    new { machines = new[] { "vm1" }, post = new[] { new { kind = "script", name = "warm cache", script = "warm.sh", timeoutSeconds = 30 } } },
                    new { machines = new[] { "vm2", "vm3" }, pre = new[] { new { kind = "manual", name = "check the database", instructions = "vm1 is up: check its database" } } },
                },
            });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);

            // Bad input: a clear error, nothing started.
            var unknown = await node.Api.PostAsync("api/failovers", new { plan = "nope", kind = "test" });
            Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
            Assert.Contains("recovery plan 'nope' does not exist", unknown.Error);
            var noPoint = await node.Api.PostAsync("api/failovers", new { plan = "three", kind = "test", point = "no-such-point" });
            Assert.Equal(HttpStatusCode.BadRequest, noPoint.Status);
            Assert.Contains("recovery point 'no-such-point' is not on disk(s) vm1-boot", noPoint.Error);
            var outside = await node.Api.PostAsync("api/failovers", new { plan = "three", kind = "test", time = "2001-01-01T00:00:00Z" });
            Assert.Equal(HttpStatusCode.BadRequest, outside.Status);
            Assert.Contains("no recovery point common to its disks at or before 2001-01-01", outside.Error);
            Assert.Empty((await node.Api.GetAsync("api/failovers")).Body!.AsArray());

            var start = await node.Api.PostAsync("api/failovers", new { plan = "three", kind = "test", point = "latest" });
            Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
            var job = start.Body!["jobId"]!.GetValue<string>();

            var again = await node.Api.PostAsync("api/failovers", new { plan = "three", kind = "test" });
            Assert.Equal(HttpStatusCode.Conflict, again.Status);
            Assert.Contains($"machine vm1 is already in test failover job '{job}'", again.Error);

            // Group 1 boots, its script runs, then the plan waits for the operator before group 2.
            var waiting = await UntilAsync(node, job, j => Status(j) is "WaitingForOperator" or "StepFailed", TimeSpan.FromMinutes(3));
            Assert.Equal("WaitingForOperator", Status(waiting));
            Assert.Equal(["vm1"], waiting["machines"]!.AsArray().Select(m => m!["machineId"]!.GetValue<string>()));
            Assert.Contains($"warmed for {job}", waiting["steps"]![2]!["output"]!.GetValue<string>());
            var manual = waiting["steps"]!.AsArray().Single(s => s!["state"]!.GetValue<string>() == "Running")!["plan"]!["index"]!.GetValue<int>();

            var confirmed = await node.Api.PostAsync($"api/failovers/{job}/manual-actions/{manual}/confirm", new { comment = "database checked" });
            Assert.True(confirmed.Status == HttpStatusCode.OK, confirmed.Text);
            var twice = await node.Api.PostAsync($"api/failovers/{job}/manual-actions/{manual}/confirm", new { comment = "again" });
            Assert.Equal(HttpStatusCode.Conflict, twice.Status);
            Assert.Contains("not waiting for an operator", twice.Error);

            var done = await UntilAsync(node, job, j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(4));
            Assert.True(Status(done) == "Completed", done.ToJsonString());
            var report = done["report"]!;
            Assert.True(report["passed"]!.GetValue<bool>(), report.ToJsonString());
            foreach (var m in machines)
            {
                var drill = report["machines"]!.AsArray().Single(x => x!["machineId"]!.GetValue<string>() == m.Id)!;
                // The guest read its own data from the disk it booted and found the checksum written before the point.
                Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={m.GuestSha}", drill["guestCheck"]!.GetValue<string>());
                // Byte for byte against the source (unchanged since its point), on both paths.
                var source = await GuestMachines.Sha256Async(m.Path);
                var disk = drill["disks"]![0]!;
                Assert.Equal(source, disk["bootedSha256"]!.GetValue<string>());
                Assert.Equal(source, disk["replaySha256"]!.GetValue<string>());
                Assert.True(drill["rtoMs"]!.GetValue<long>() > 0);
            }
            // Isolated: the job's machines share a network namespace with a bridge of their own (each NIC a tap moved into
            // it); user-mode networking with no route out only where namespaces cannot be made. The job says which.
            var pids = done["machines"]!.AsArray().Select(m => m!["pid"]!.GetValue<int>()).ToList();
            var isolations = done["machines"]!.AsArray().Select(m => m!["isolation"]!.GetValue<string>()).ToList();
            string? netns = null;
            foreach (var (pid, isolation) in pids.Zip(isolations))
            {
                var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
                if (isolation.StartsWith("netns ", StringComparison.Ordinal))
                {
                    Assert.Contains("-netdev tap,", cmdline);
                    var name = isolation.Split(' ')[1];
                    Assert.True(netns is null || netns == name, $"the job's machines are in two namespaces: {netns}, {name}");
                    netns = name;
                }
                else Assert.Contains("restrict=on", cmdline);
            }
            var console = await node.Api.GetAsync($"api/failovers/{job}/machines/vm2/console?lines=50");
            Assert.Contains("SR-BOOTED", console.Text);

            // Replication goes on during the drill: a write at the source still becomes a recovery point.
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", machines[0].Agent.Uri(machines[0].Disk), "-c", "write -P 0x11 0 1M"], TimeSpan.FromMinutes(1));
            await node.BookmarkAsync("during-drill", [machines[0].Disk], TimeSpan.FromSeconds(60));

            var cleanup = await node.Api.PostAsync($"api/failovers/{job}/cleanup", new { reason = "drill over" });
            Assert.True(cleanup.Status == HttpStatusCode.OK, cleanup.Text);
            var clean = await UntilAsync(node, job, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
            foreach (var pid in pids) Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").Contains("qemu"), $"qemu {pid} still runs");
            Assert.False(QemuOfJobRuns(job));
            foreach (var m in machines) Assert.Empty((await node.Api.GetAsync($"api/disks/{m.Disk}/exports")).Body!.AsArray());
            if (netns is not null) Assert.False(File.Exists($"/run/netns/{netns}"), $"network namespace {netns} left after the cleanup");
            var overlays = Path.Combine(node.DataDir, "master-target", "exports");
            Assert.True(!Directory.Exists(overlays) || !Directory.EnumerateFiles(overlays).Any(), "an overlay was left");
            var left = Directory.EnumerateFiles(Path.Combine(node.DataDir, "failover", job), "*", SearchOption.AllDirectories).ToList();
            Assert.All(left, f => Assert.Contains("console", Path.GetFileName(f)));
            Assert.Contains(clean["history"]!.AsArray(), h => h!.GetValue<string>().Contains("cleaned up: machine vm1 stopped"));

            // A script that hangs fails its step within its timeout, naming it; the plan then cleans up.
            var hang = await node.Api.PostAsync("api/recovery-plans", new
            {
                planId = "hangs", vault = "drills",
                groups = new[] { new { machines = new[] { "vm1" }, pre = new[] { new { kind = "script", name = "hang", script = "hang.sh", timeoutSeconds = 2 } } } },
            });
            Assert.True(hang.Status == HttpStatusCode.OK, hang.Text);
            var hangJob = (await node.Api.PostAsync("api/failovers", new { plan = "hangs", kind = "test" })).Body!["jobId"]!.GetValue<string>();
            var failed = await UntilAsync(node, hangJob, j => Status(j) is "StepFailed" or "Completed", TimeSpan.FromMinutes(1));
            Assert.Equal("StepFailed", Status(failed));
            Assert.Contains("script hang.sh: no end within 2 s, killed", failed["steps"]![1]!["error"]!.GetValue<string>());
            Assert.Empty(failed["machines"]!.AsArray());
            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync($"api/failovers/{hangJob}/cleanup", new { })).Status);
            await UntilAsync(node, hangJob, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
        }
        finally
        {
            foreach (var m in machines) m.Agent.Dispose();
        }
    }

    [Fact]
    public async Task A_node_killed_while_a_machine_boots_rolls_the_failover_back_on_restart_and_leaves_no_machine()
    {
        using var dir = new TempDir("failover-kill");
        var (node, machines) = await SiteAsync(dir, "vm1");
        using var _ = node;
        try
        {
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "one", vault = "drills", groups = new[] { new { machines = new[] { "vm1" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
            var job = (await node.Api.PostAsync("api/failovers", new { plan = "one", kind = "test" })).Body!["jobId"]!.GetValue<string>();
            // Kill the node once qemu runs for the job and before it has booted.
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            while (!QemuOfJobRuns(job))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"no qemu started for {job}\n{node.Logs(60)}");
                await Task.Delay(50);
            }
            node.Kill9();
            await node.Process!.WaitForExitAsync(TimeSpan.FromSeconds(10));

            await node.StartAsync();
            var clean = await UntilAsync(node, job, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(2));
            Assert.Contains(clean["history"]!.AsArray(), h => h!.GetValue<string>().Contains("the node restarted while step 1 'start boot group 1' was running"));
            // The machine the killed node had started was not recorded: the cleanup finds it by the job's folder, unless it
            // already ended by itself (its disks went with the node, and a guest that cannot read its disk stops).
            Assert.Contains(clean["history"]!.AsArray(), h => h!.GetValue<string>().Contains("cleaned up:"));
            Assert.Equal("Failed", clean["steps"]![1]!["state"]!.GetValue<string>());
            Assert.False(QemuOfJobRuns(job), "the machine the killed node had started still runs");

            // The machine is free again: a new drill runs to the end.
            var next = await node.Api.PostAsync("api/failovers", new { plan = "one", kind = "test", ttlSeconds = 10 });
            Assert.True(next.Status == HttpStatusCode.Accepted, next.Text);
            var nextJob = next.Body!["jobId"]!.GetValue<string>();
            var done = await UntilAsync(node, nextJob, j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(3));
            Assert.True(Status(done) == "Completed", done.ToJsonString());
            // Its time-to-live cleans it up by itself.
            var expired = await UntilAsync(node, nextJob, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
            Assert.Contains("time-to-live of 10 s passed", expired["cleanupReason"]!.GetValue<string>());
            Assert.False(QemuOfJobRuns(nextJob));
        }
        finally
        {
            foreach (var m in machines) m.Agent.Dispose();
        }
    }

    [Fact]
    public async Task An_unplanned_failover_with_the_agents_killed_boots_the_machines_from_their_latest_state_rolls_back_and_commits_for_good()
    {
        using var dir = new TempDir("failover-unplanned");
        var (node, machines) = await SiteAsync(dir, "vm1", "vm2");
        using var _ = node;
        var pids = new List<int>();
        try
        {
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "prod", vault = "drills", groups = new[] { new { machines = new[] { "vm1", "vm2" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
            // The source site is gone: every agent killed (the process server and master target live in the node here).
            foreach (var m in machines) { m.Agent.Kill9(); await m.Agent.Process!.WaitForExitAsync(TimeSpan.FromSeconds(10)); }

            var ttl = await node.Api.PostAsync("api/failovers", new { plan = "prod", kind = "unplanned", ttlSeconds = 60 });
            Assert.Equal(HttpStatusCode.BadRequest, ttl.Status);
            Assert.Contains("test failover only", ttl.Error);

            async Task<(string Job, JsonNode View)> FailOverAsync()
            {
                var start = await node.Api.PostAsync("api/failovers", new { plan = "prod", kind = "unplanned", point = "latest" });
                Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
                var job = start.Body!["jobId"]!.GetValue<string>();
                var done = await UntilAsync(node, job, j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(4));
                Assert.True(Status(done) == "Completed", done.ToJsonString());
                foreach (var m in machines)
                {
                    var started = done["machines"]!.AsArray().Single(x => x!["machineId"]!.GetValue<string>() == m.Id)!;
                    var boot = done["boots"]!.AsArray().Single(x => x!["machineId"]!.GetValue<string>() == m.Id)!;
                    Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={m.GuestSha}", boot["guestCheck"]!.GetValue<string>());
                    // Its disk was materialized at the point, byte for byte the source (unchanged since its last durable write).
                    var disk = started["disks"]![0]!;
                    Assert.StartsWith("file://", disk["uri"]!.GetValue<string>());
                    Assert.Equal(await GuestMachines.Sha256Async(m.Path), disk["sha256"]!.GetValue<string>());
                    var cmdline = File.ReadAllText($"/proc/{started["pid"]!.GetValue<int>()}/cmdline").Replace('\0', ' ');
                    Assert.DoesNotContain("restrict=on", cmdline);
                    // Instant: it booted from the point served over NBD, then moved onto its image while running (the
                    // guest only reads, so the image is the source byte for byte), and the export it booted from is gone.
                    Assert.Contains("file=nbd://", cmdline);
                    Assert.Equal(await GuestMachines.Sha256Async(m.Path), await GuestMachines.Sha256Async(new Uri(disk["uri"]!.GetValue<string>()).LocalPath));
                    Assert.Empty((await node.Api.GetAsync($"api/disks/{m.Disk}/exports")).Body!.AsArray());
                }
                return (job, done);
            }

            // Fail over, then roll back: the machines stop and their images go.
            var (first, firstView) = await FailOverAsync();
            var busy = await node.Api.PostAsync("api/failovers", new { plan = "prod", kind = "test" });
            Assert.Equal(HttpStatusCode.Conflict, busy.Status);
            Assert.Contains($"is already in unplanned failover job '{first}' of plan prod; commit or roll it back first", busy.Error);
            Assert.Equal(HttpStatusCode.Conflict, (await node.Api.PostAsync($"api/failovers/{first}/cleanup", new { })).Status);
            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync($"api/failovers/{first}/rollback", new { reason = "wrong site" })).Status);
            var rolled = await UntilAsync(node, first, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
            Assert.Equal("rollback: wrong site", rolled["cleanupReason"]!.GetValue<string>());
            Assert.False(QemuOfJobRuns(first));
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(node.DataDir, "failover", first), "*.img", SearchOption.AllDirectories));

            // Fail over again and commit: final, and the machines outlive a killed node.
            var (second, secondView) = await FailOverAsync();
            pids.AddRange(secondView["machines"]!.AsArray().Select(m => m!["pid"]!.GetValue<int>()));
            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync($"api/failovers/{second}/commit", new { })).Status);
            Assert.Equal("Committed", Status((await node.Api.GetAsync($"api/failovers/{second}")).Body!));
            var rollback = await node.Api.PostAsync($"api/failovers/{second}/rollback", new { reason = "too late" });
            Assert.Equal(HttpStatusCode.Conflict, rollback.Status);
            Assert.Contains("is committed", rollback.Error);
            var again = await node.Api.PostAsync("api/failovers", new { plan = "prod", kind = "unplanned" });
            Assert.Equal(HttpStatusCode.Conflict, again.Status);
            Assert.Contains($"machine vm1 is failed over (committed unplanned failover job '{second}' of plan prod)", again.Error);

            node.Kill9();
            await node.Process!.WaitForExitAsync(TimeSpan.FromSeconds(10));
            await node.StartAsync();
            await Task.Delay(2000); // time for the failover directory to wake what it would wake
            var after = (await node.Api.GetAsync($"api/failovers/{second}")).Body!;
            Assert.Equal("Committed", Status(after));
            Assert.True(QemuOfJobRuns(second), "a committed machine must keep running when the node that started it dies");
        }
        finally
        {
            foreach (var m in machines) m.Agent.Dispose();
            // Failback is not built: the test stops the committed machines it made itself.
            foreach (var pid in pids)
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        }
    }

    [Fact]
    public async Task A_planned_failover_stops_and_drains_the_source_under_load_loses_nothing_and_its_rollback_gives_the_source_back()
    {
        using var dir = new TempDir("failover-planned");
        var (node, machines) = await SiteAsync(dir, 32, "vm1");
        using var _ = node;
        var m = machines[0];
        var data = $"{m.Id}-data";
        using var load = new CancellationTokenSource();
        try
        {
            var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "move", vault = "drills", groups = new[] { new { machines = new[] { "vm1" } } } });
            Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
            var withPoint = await node.Api.PostAsync("api/failovers", new { plan = "move", kind = "planned", point = "latest" });
            Assert.Equal(HttpStatusCode.BadRequest, withPoint.Status);
            Assert.Contains("recovers to the final point it takes itself", withPoint.Error);

            // The source keeps writing until the failover stops it: the writer then gets errors and ends.
            var writer = ExternalTool.RunAsync("fio", Tools.FioRandWrite(m.Agent.Uri(data), "planned", 32, 4096).Concat(["--time_based", "--runtime=300"]), TimeSpan.FromMinutes(6), load.Token);
            await Task.Delay(3000);
            var start = await node.Api.PostAsync("api/failovers", new { plan = "move", kind = "planned" });
            Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
            var job = start.Body!["jobId"]!.GetValue<string>();
            var done = await UntilAsync(node, job, j => Status(j) is "Completed" or "StepFailed", TimeSpan.FromMinutes(4));
            Assert.True(Status(done) == "Completed", done.ToJsonString());
            Assert.Contains("read-only and drained", done["steps"]![0]!["output"]!.GetValue<string>());
            Assert.Equal($"planned-{job}", done["points"]![0]!["pointName"]!.GetValue<string>());
            var writes = await writer; // the stop refused its next write
            Assert.NotEqual(0, writes.ExitCode);

            // Zero loss: every disk of the machine, materialized at the final point, is the source as it ended, byte for byte.
            var started = done["machines"]![0]!;
            foreach (var d in started["disks"]!.AsArray())
            {
                var disk = d!["diskId"]!.GetValue<string>();
                var source = disk == m.Disk ? m.Path : dir[$"{disk}.img"];
                Assert.Equal(await GuestMachines.Sha256Async(source), d["sha256"]!.GetValue<string>());
            }
            Assert.Equal($"SR-CHECK OK bytes={1 << 20} sha256={m.GuestSha}", done["boots"]![0]!["guestCheck"]!.GetValue<string>());

            // Rolled back: the machine stops and the source takes writes again, which replicate.
            Assert.Equal(HttpStatusCode.OK, (await node.Api.PostAsync($"api/failovers/{job}/rollback", new { reason = "stay on premises" })).Status);
            var rolled = await UntilAsync(node, job, j => Status(j) == "CleanedUp", TimeSpan.FromMinutes(1));
            Assert.Contains(rolled["history"]!.AsArray(), h => h!.GetValue<string>().Contains("the source takes writes again"));
            Assert.False(QemuOfJobRuns(job));
            await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", m.Agent.Uri(data), "-c", "write -P 0x42 0 1M"], TimeSpan.FromMinutes(1));
            await node.BookmarkAsync("after-rollback", [data], TimeSpan.FromSeconds(60));
        }
        finally
        {
            load.Cancel();
            foreach (var x in machines) x.Agent.Dispose();
        }
    }
}
