using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

/// <summary>
/// The failover saga as an actor on a real journal (SQLite), with the node's effects replaced by a recorder at the
/// <see cref="IFailoverEffects"/> seam: 50 machines in 10 boot groups, a manual action and a script; and a node that
/// stops in the middle of a boot group. Real boots are in the integration tests.
/// </summary>
public sealed partial class FailoverSagaTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-failover-saga", Guid.NewGuid().ToString("N"));
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public FailoverSagaTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    sealed class Recorder : IFailoverEffects
    {
        public readonly ConcurrentQueue<string> Calls = new();
        public readonly ConcurrentDictionary<string, bool> Running = new();
        public TaskCompletionSource? Block { get; init; }
        public int? BlockGroupWith { get; init; }

        public Task<IReadOnlyList<MachinePoint>> ResolvePointsAsync(IReadOnlyList<string> machines, FailoverPointChoice point, CancellationToken ct)
        {
            Calls.Enqueue($"resolve {machines.Count}");
            return Task.FromResult<IReadOnlyList<MachinePoint>>(machines.Select(m => new MachinePoint(m, "auto-1", new Dictionary<string, long> { [$"{m}-d0"] = 7 }, 1_000, "crash-consistent")).ToList());
        }

        public Task<string> StopSourceAsync(string jobId, IReadOnlyList<string> machines, string pointName, CancellationToken ct)
        {
            Calls.Enqueue($"stop-source {machines.Count} {pointName}");
            return Task.FromResult("stopped");
        }

        public Task<string> ResumeSourceAsync(string jobId, IReadOnlyList<string> machines, CancellationToken ct)
        {
            Calls.Enqueue($"resume-source {machines.Count}");
            return Task.FromResult("resumed");
        }

        public Task<string> RunScriptAsync(string jobId, string script, TimeSpan timeout, CancellationToken ct)
        {
            Calls.Enqueue($"script {script}");
            return Task.FromResult("exit 0; no output");
        }

        public async Task<(IReadOnlyList<StartedMachineRecord> Machines, IReadOnlyList<MachineBootRecord> Boots)> StartGroupAsync(string jobId, FailoverKind kind, IReadOnlyList<MachinePoint> points, CancellationToken ct)
        {
            Calls.Enqueue($"start {string.Join(",", points.Select(p => p.MachineId))}");
            foreach (var p in points) Running[p.MachineId] = true;
            if (Block is not null && points.Count == BlockGroupWith) await Block.Task.WaitAsync(ct);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return (points.Select(p => new StartedMachineRecord("local", p.MachineId, p.MachineId, $"i-{p.MachineId}", 1, "/dev/null", "tcg", now,
                    [new ServedDiskRecord($"{p.MachineId}-d0", "e", "nbd://127.0.0.1:1/x", 7, 1 << 20)])).ToList(),
                points.Select(p => new MachineBootRecord(p.MachineId, true, now, 0.1, "SR-CHECK OK bytes=1 sha256=00", null, ["SR-BOOTED"])).ToList());
        }

        public Task<IReadOnlyList<DiskChecksum>> ChecksumsAsync(StartedMachineRecord machine, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<DiskChecksum>>([new DiskChecksum(machine.Disks[0].DiskId, 7, "ab", "ab")]);

        /// <summary>When set, a reprotect or failback waits for it (a node can then stop in the middle of one).</summary>
        public TaskCompletionSource? BlockReverse { get; init; }
        /// <summary>The first N reprotects or failbacks fail with this message.</summary>
        public int FailReverse { get; set; }
        public int FailReturn { get; set; }

        /// <summary>When set, a commit's capture waits for it (a node can then stop in the middle of one).</summary>
        public TaskCompletionSource? BlockCapture { get; init; }
        /// <summary>Machines the capture cannot move (named in its failures).</summary>
        public IReadOnlySet<string> CannotCapture { get; init; } = new HashSet<string>();
        /// <summary>What each reprotect was given of the commit's agents: one line per reprotect, the machines with an agent.</summary>
        public readonly ConcurrentQueue<string> ReprotectedWithAgents = new();

        public async Task<CommitCapture> CaptureAsync(string jobId, IReadOnlyList<StartedMachineRecord> running, CancellationToken ct)
        {
            Calls.Enqueue($"capture {running.Count}");
            if (BlockCapture is not null) await BlockCapture.Task.WaitAsync(ct);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var moved = running.Where(m => !CannotCapture.Contains(m.MachineId)).ToList();
            return new CommitCapture(
                moved.Select(m => new CaptureAgentRecord(m.MachineId, 5, $"/tmp/{m.MachineId}/reverse-agent", "/dev/null", "127.0.0.1:5", false)).ToList(),
                moved.Select(m => m with { Disks = m.Disks.Select(d => d with { ExportId = "reverse-agent", Uri = $"nbd://127.0.0.1:5/{d.DiskId}" }).ToList() }).ToList(),
                moved.Select(m => new MachineBootRecord(m.MachineId, true, now, 0.1, null, null, ["SR-BOOTED"]) { Restarted = false }).ToList(),
                running.Where(m => CannotCapture.Contains(m.MachineId)).Select(m => $"{m.MachineId}: the agent did not start").ToList());
        }

        public async Task<(IReadOnlyList<ReverseMachineRecord> Machines, IReadOnlyList<StartedMachineRecord> Started, IReadOnlyList<MachineBootRecord> Boots)> ReprotectAsync(
            string jobId, IReadOnlyList<StartedMachineRecord> running, IReadOnlyList<CaptureAgentRecord> captured, ReverseTarget target, CancellationToken ct)
        {
            Calls.Enqueue($"reprotect {running.Count} to {target.ProcessServer}");
            ReprotectedWithAgents.Enqueue(string.Join(",", captured.Select(a => $"{a.MachineId}@{a.AgentPid}")));
            if (BlockReverse is not null) await BlockReverse.Task.WaitAsync(ct);
            if (FailReverse-- > 0) throw new InvalidOperationException("the original site's process server refused the connection");
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            return (running.Select(m => new ReverseMachineRecord(m.MachineId, 2, $"/tmp/{m.MachineId}", "/dev/null", "127.0.0.1:2",
                    m.Disks.Select(d => new ReverseDiskRecord(d.DiskId, d.SizeBytes, 1 << 10, 1, 0, 0.1)).ToList())).ToList(),
                running.Select(m => m with { InstanceId = m.InstanceId + "-r" }).ToList(),
                running.Select(m => new MachineBootRecord(m.MachineId, true, now, 0.1, null, null, ["SR-BOOTED"])).ToList());
        }

        public async Task<IReadOnlyList<FailbackDiskRecord>> FailbackAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse, IReadOnlyList<StartedMachineRecord> running,
            ReverseTarget target, CancellationToken ct)
        {
            Calls.Enqueue($"failback {reverse.Count} to {target.Api}");
            if (BlockReverse is not null) await BlockReverse.Task.WaitAsync(ct);
            if (FailReverse-- > 0) throw new InvalidOperationException("the original site did not hold the last write in time");
            return reverse.SelectMany(r => r.Disks).Select(d => new FailbackDiskRecord(d.DiskId, 9, "cd")).ToList();
        }

        public async Task<IReadOnlyList<ReturnedMachineRecord>> ReturnAsync(string jobId, IReadOnlyList<ReverseMachineRecord> reverse, ReverseTarget target, CancellationToken ct)
        {
            Calls.Enqueue($"return {reverse.Count} to {target.Api}");
            if (BlockReverse is not null) await BlockReverse.Task.WaitAsync(ct);
            if (FailReturn-- > 0) throw new InvalidOperationException("the original site's machine did not boot");
            return reverse.Select(r => new ReturnedMachineRecord(r.MachineId, target.Api, 3, "127.0.0.1:3", "/dev/null",
                r.Disks.Select(d => d with { BytesSent = 2 << 10 }).ToList(), 4, "/dev/null", "tcg", true, 0.2, "SR-CHECK OK", null)).ToList();
        }

        public Task<IReadOnlyList<string>> RemoveAsync(string jobId, IReadOnlyList<string> machines, IReadOnlyList<StartedMachineRecord> started, CancellationToken ct)
        {
            Calls.Enqueue($"remove {machines.Count}");
            var removed = machines.Where(m => Running.TryRemove(m, out _)).Select(m => $"machine {m} stopped").ToList();
            return Task.FromResult<IReadOnlyList<string>>(removed);
        }
    }

    sealed class Site(string dir, IFailoverEffects effects) : IAsyncDisposable
    {
        ActorTestNode? _node;
        public IActorRef Jobs = null!;
        public IActorRef Directory = null!;

        public async Task StartAsync() =>
            _node = await ActorTestNode.StartAsync(PersistenceSettings.Sqlite(dir), EntitySettings.Default, b => b.WithActors((system, registry) =>
            {
                IActorRef? region = null;
                Directory = system.ActorOf(FailoverDirectoryActor.Props(EntitySettings.Default, () => region), "failover-directory");
                Jobs = region = system.ActorOf(FailoverJobsRegion.Props(effects, EntitySettings.Default, Directory), "failover-jobs");
            }));

        public Task<T> Ask<T>(IActorRef to, object message) => to.Ask<T>(message, Timeout);

        public async Task<FailoverJobView> WaitAsync(string job, Func<FailoverJobView, bool> until)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (true)
            {
                var v = await Ask<FailoverJobView>(Jobs, new GetFailoverJob(job));
                if (until(v)) return v;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"job {job} is {v.Status}: {string.Join(" | ", v.History)}");
                await Task.Delay(50);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_node is not null) await _node.DisposeAsync();
        }
    }

    /// <summary>50 machines in 10 boot groups of 5; a manual action before group 2 and a script after group 1; a drill report.</summary>
    static (IReadOnlyList<FailoverStepPlan> Steps, IReadOnlyList<string> Machines) FiftyMachines()
    {
        var machines = Enumerable.Range(1, 50).Select(i => $"vm{i:00}").ToList();
        var steps = new List<FailoverStepPlan> { new(0, FailoverStepKind.ResolvePoint, "resolve", null, machines) };
        for (var g = 1; g <= 10; g++)
        {
            if (g == 2) steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.Manual, "check the database", 2, [], "look"));
            steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.StartGroup, $"start boot group {g}", g, machines.Skip((g - 1) * 5).Take(5).ToList()));
            if (g == 1) steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.Script, "warm", 1, [], null, "warm.sh", 5));
        }
        steps.Add(new FailoverStepPlan(steps.Count, FailoverStepKind.DrillReport, "drill report", null, machines));
        return (steps, machines);
    }

    [Fact]
    public async Task Fifty_machines_in_ten_boot_groups_start_group_after_group_wait_for_the_operator_report_and_clean_up()
    {
        var effects = new Recorder();
        var (steps, machines) = FiftyMachines();
        await using var site = new Site(_dir, effects);
        await site.StartAsync();
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Directory, new OpenFailover("j1", "p1", FailoverKind.Test, machines, 1)));
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs,
            new StartFailoverJob("j1", "p1", 1, FailoverKind.Test, new FailoverPointChoice("latest"), steps, machines, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), null)));

        var waiting = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.WaitingForOperator);
        Assert.Equal("check the database", waiting.Steps.Single(s => s.State == FailoverStepState.Running).Plan.Name);
        Assert.Equal(["resolve 50", "start vm01,vm02,vm03,vm04,vm05", "script warm.sh"], effects.Calls.ToArray());

        // A second failover of any of these machines is refused naming the job, while this one is open.
        var refused = Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Directory, new OpenFailover("j2", "p2", FailoverKind.Test, ["vm33"], 2)));
        Assert.Contains("vm33 is already in test failover job 'j1'", refused.Message);

        var index = waiting.Steps.Single(s => s.State == FailoverStepState.Running).Plan.Index;
        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new ConfirmManualAction("j1", index, "db checked by ops", 3)));
        Assert.IsType<CommandResult.Rejected>(await site.Ask<CommandResult>(site.Jobs, new ConfirmManualAction("j1", index, "again", 4)));

        var done = await site.WaitAsync("j1", v => v.Status is FailoverJobStatus.Completed or FailoverJobStatus.StepFailed);
        Assert.Equal(FailoverJobStatus.Completed, done.Status);
        Assert.Equal(50, done.Machines.Count);
        Assert.True(done.Report!.Passed);
        Assert.Equal(50, done.Report.Machines.Count);
        // Group g started only after group g-1 had booted: the starts are in plan order, one group at a time.
        var starts = effects.Calls.Where(c => c.StartsWith("start ")).ToList();
        Assert.Equal(Enumerable.Range(1, 10).Select(g => "start " + string.Join(",", machines.Skip((g - 1) * 5).Take(5))), starts);

        Assert.IsType<CommandResult.Accepted>(await site.Ask<CommandResult>(site.Jobs, new CleanupFailover("j1", "drill over", 5)));
        var clean = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.CleanedUp);
        Assert.Empty(effects.Running);
        Assert.Contains(clean.History, h => h.Contains("cleaned up: machine vm01 stopped"));
        // The machines are free again.
        await WaitAcceptedAsync(() => site.Ask<CommandResult>(site.Directory, new OpenFailover("j3", "p2", FailoverKind.Test, ["vm33"], 6)));
    }

    [Fact]
    public async Task A_node_that_stops_in_the_middle_of_a_boot_group_rolls_the_job_back_when_it_comes_back()
    {
        var (steps, machines) = FiftyMachines();
        var first = new Recorder { Block = new TaskCompletionSource(), BlockGroupWith = 5 };
        await using (var site = new Site(_dir, first))
        {
            await site.StartAsync();
            await site.Ask<CommandResult>(site.Directory, new OpenFailover("j1", "p1", FailoverKind.Test, machines, 1));
            await site.Ask<CommandResult>(site.Jobs, new StartFailoverJob("j1", "p1", 1, FailoverKind.Test, new FailoverPointChoice("latest"), steps, machines, 1, null));
            await site.WaitAsync("j1", v => v.Steps.Any(s => s.Plan.Kind == FailoverStepKind.StartGroup && s.State == FailoverStepState.Running));
        }

        // The new node's effects know nothing of the old one's machines except what the job asks to remove.
        var second = new Recorder();
        await using (var site = new Site(_dir, second))
        {
            await site.StartAsync();
            // Nobody asks: the directory wakes the open job, which is interrupted and cleaned up.
            var clean = await site.WaitAsync("j1", v => v.Status == FailoverJobStatus.CleanedUp);
            Assert.Contains(clean.History, h => h.Contains("interrupted in step 1: the node restarted while step 1 'start boot group 1' was running"));
            Assert.Equal(FailoverStepState.Failed, clean.Steps[1].State);
            Assert.Equal(["remove 50"], second.Calls.ToArray());
            Assert.DoesNotContain(second.Calls, c => c.StartsWith("start "));
        }
    }

    static async Task WaitAcceptedAsync(Func<Task<CommandResult>> ask)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (await ask() is CommandResult.Rejected r)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(r.Message);
            await Task.Delay(50);
        }
    }
}
