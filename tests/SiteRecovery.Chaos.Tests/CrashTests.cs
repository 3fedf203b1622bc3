using System.Diagnostics;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Separate processes for the configuration + master target node (A), the process server node (B) and
/// the agent; fio writes through the agent's NBD export while one of them is killed with SIGKILL and
/// restarted on the same data and ports. A bookmark afterwards must recover to exactly the source disk.
/// </summary>
public sealed class CrashTests
{
    const long DiskSize = 256L << 20;
    const int IoMb = 96;
    const int Writes = IoMb * 16; // 64 KiB blocks
    const string Disk = TwoNodeSite.Disk;

    /// <summary>Waits until B's process server has spooled <paramref name="deltas"/> more than <paramref name="from"/>, while fio runs.</summary>
    static async Task WaitForSpooledAsync(Node b, long from, long deltas, Task fio, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (await b.SpooledAsync(Disk) - from < deltas)
        {
            if (fio.IsCompleted) return;
            if (sw.Elapsed > timeout) throw new TimeoutException($"process server did not spool {deltas} deltas within {timeout.TotalSeconds:0} s\n{b.Logs()}");
            await Task.Delay(20);
        }
    }

    async Task CrashMidWorkloadAsync(string name, Func<TwoNodeSite, Node> victim, int killAtPercent)
    {
        var killAtFraction = killAtPercent / 100.0;
        using var site = await TwoNodeSite.StartAsync(name, DiskSize, seed: 11);
        var before = await site.B.SpooledAsync(Disk);
        // Writes at a set pace (about 3 s for the 96 MiB), so the kill lands mid-workload however fast the machine: unpaced,
        // the agent acknowledges at disk speed while the spool catches up later, and fio could end before the trigger.
        var fio = ExternalTool.RunAsync("fio", Tools.FioRandWrite(site.Agent.Uri(Disk), "crash", (int)(DiskSize >> 20), IoMb, rate: ",32m"), TimeSpan.FromMinutes(3));

        await WaitForSpooledAsync(site.B, before, (long)(Writes * killAtFraction), fio, TimeSpan.FromSeconds(60));
        Assert.False(fio.IsCompleted, $"fio finished before the kill, so nothing was tested mid-workload\n{(fio.IsCompletedSuccessfully ? fio.Result.Output : "")}");
        var node = victim(site);
        node.Kill9();
        await Task.Delay(500);
        Assert.False(fio.IsCompleted && fio.Result.ExitCode != 0, "fio failed while a node was down");
        await node.StartAsync();

        var result = await fio;
        Assert.True(result.ExitCode == 0, $"fio exited {result.ExitCode} after node {node.Id} was killed and restarted:\n{result.Output}\n{site.Logs()}");
        await site.AssertRecoveryEqualsSourceAsync($"after-{node.Id}-crash");
        Assert.Equal(2, node.History.Count);
        if (node == site.B)
            Assert.True(site.Agent.Process!.Lines.Count(l => l.Contains("connected to process server", StringComparison.Ordinal)) >= 2,
                $"the agent never reconnected to the restarted process server\n{site.Agent.Logs()}");
    }

    [Theory]
    [InlineData(15)]
    [InlineData(60)]
    public Task Process_server_killed_mid_workload_loses_nothing(int killAtPercent)
        => CrashMidWorkloadAsync("ps-crash", s => s.B, killAtPercent);

    [Theory]
    [InlineData(40)]
    public Task Master_target_node_killed_mid_workload_loses_nothing(int killAtPercent)
        => CrashMidWorkloadAsync("mt-crash", s => s.A, killAtPercent);
}
