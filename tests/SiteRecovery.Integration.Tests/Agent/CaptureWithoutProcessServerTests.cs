using System.Net;
using SiteRecovery.Agent;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Agent;

/// <summary>
/// <c>sragent run --process-server-file FILE</c>, the agent a commit puts in front of a failed-over machine: it serves
/// NBD at once with no process server, captures every write (kept in its activity log across a restart) and replicates
/// nothing; once FILE names the process server it connects without restarting and compares the whole disk with the
/// replica, so the replica ends equal to the disk: the writes made before the agent existed and those it captured.
/// </summary>
public class CaptureWithoutProcessServerTests
{
    const int Block = 1 << 20;
    const long Size = 32L * Block;

    static async Task<MobilityAgent> StartAsync(Site site, string disk, EndPoint? processServer, string? processServerFile, List<ResyncSummary> summaries)
    {
        var options = new AgentOptions("agent-1", [new AgentDisk("disk1", disk)], new IPEndPoint(IPAddress.Loopback, 0), processServer, Path.Combine(site.Root, "agent"))
        {
            ProcessServerFile = processServerFile,
            ResyncCompleted = s => { lock (summaries) summaries.Add(s); },
        };
        var agent = new MobilityAgent(options, m => { lock (site.Log) site.Log.Add(m); });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await agent.StartAsync(cts.Token);
        return agent;
    }

    static string Uri(MobilityAgent agent) => $"nbd://{agent.NbdEndpoint}/disk1";

    static async Task WriteAsync(MobilityAgent agent, int block, byte fill) =>
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {Uri(agent)} -c \"write -P {fill} {(long)block * Block} 1M\"", TimeSpan.FromMinutes(1));

    static async Task UntilAsync(Func<bool> done, string what, Site site)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what} within 60 s:\n" + string.Join("\n", site.Log.TakeLast(20)));
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_capturing_agent_serves_without_a_process_server_keeps_its_capture_across_a_restart_and_compares_once_given_one()
    {
        await using var site = await Site.StartServersAsync("capture");
        var disk = Path.Combine(site.Root, "disk1.img");
        var bytes = new byte[Size];
        new Random(5).NextBytes(bytes);
        await File.WriteAllBytesAsync(disk, bytes);
        var summaries = new List<ResyncSummary>();
        // The replica holds the disk as it was at the failover.
        await using (var first = await StartAsync(site, disk, site.ProcessEndpoint!, null, summaries))
            await UntilAsync(() => summaries.Count == 1 && site.Target.Disks.TryGetValue("disk1", out var d) && d.AppliedThrough >= first.Exports[0].Stream.LastSequence,
                "the initial replication did not finish", site);
        var replicated = site.Target.Disks["disk1"].AppliedThrough;

        // Written before any agent serves it (the machine between its boot and the commit).
        await using (var f = new FileStream(disk, FileMode.Open, FileAccess.Write)) { f.Position = 2L * Block; f.Write(Enumerable.Repeat((byte)0x22, Block).ToArray()); }

        var given = Path.Combine(site.Root, "process-server");
        summaries.Clear();
        await using (var capturing = await StartAsync(site, disk, null, given, summaries))
        {
            Assert.True(capturing.Capturing);
            await WriteAsync(capturing, 5, 0x55);
            Assert.Equal(Block, capturing.Exports[0].CapturedBytes);
            Assert.Equal(1, capturing.Exports[0].Activity!.Count);
        }
        // Nothing replicated while capturing; the stop says why it is not clean.
        Assert.Equal(replicated, site.Target.Disks["disk1"].AppliedThrough);
        Assert.Contains(site.Log, l => l.Contains("stopped while capturing", StringComparison.Ordinal));

        await using (var again = await StartAsync(site, disk, null, given, summaries))
        {
            // A restart captures on, from the same activity log (the extent of block 5 is still owed).
            Assert.True(again.Capturing);
            Assert.Equal(1, again.Exports[0].Activity!.Count);
            await WriteAsync(again, 9, 0x99);
            await Task.Delay(500);
            Assert.Empty(summaries);
            Assert.Null(again.Client);

            // Given its process server (as a reprotect writes it): the same process connects and compares the whole disk.
            await File.WriteAllTextAsync(given + ".tmp", site.ProcessEndpoint!.ToString() + "\n");
            File.Move(given + ".tmp", given);
            await UntilAsync(() => { lock (summaries) return summaries.Count == 1; }, "the compare did not finish", site);
            var compare = summaries.Single();
            Assert.Equal(ResyncReason.Reprotect, compare.Reason);
            Assert.Equal(Size, compare.BytesScanned);
            // Blocks 2 (before the agent), 5 (captured by the first run) and 9 (by this one).
            Assert.Equal(3L * Block, compare.BytesSent);
            Assert.False(again.Capturing);
            // Writes after the connection are replicated as usual.
            await WriteAsync(again, 12, 0xCC);
            await UntilAsync(() => site.Target.Disks["disk1"].AppliedThrough >= again.Exports[0].Stream.LastSequence && again.Client!.ResyncsRunning == 0,
                "the replica did not catch up", site);
        }
        Assert.Contains(site.Log, l => l.Contains("disk disk1: captured 1048576 bytes of writes in 2 extent(s)", StringComparison.Ordinal));
        var output = Path.Combine(site.Root, "replica.img");
        await site.Target.RecoverAsync("disk1", site.Target.Disks["disk1"].AppliedThrough, output, null, default);
        Assert.Equal(Tools.Sha256(disk), Tools.Sha256(output));
    }

    [Fact]
    public void An_agent_needs_a_process_server_or_a_file_to_learn_it_from_never_both()
    {
        var root = Tools.TempDirectory("capture-options");
        var disk = Path.Combine(root, "d.img");
        File.WriteAllBytes(disk, new byte[Block]);
        AgentOptions Options(EndPoint? ps, string? file) =>
            new("a", [new AgentDisk("d", disk)], new IPEndPoint(IPAddress.Loopback, 0), ps, root) { ProcessServerFile = file };
        foreach (var bad in new[] { Options(null, null), Options(new IPEndPoint(IPAddress.Loopback, 1), Path.Combine(root, "ps")) })
            Assert.Contains("--process-server-file", Assert.Throws<ArgumentException>(() => new MobilityAgent(bad, _ => { })).Message);
    }
}
