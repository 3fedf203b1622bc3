using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// <c>sragent run --process-server-id</c>: an agent pinned to one of the site's process servers speaks to that one only.
/// Against a real node requiring TLS: pinned to another id, the agent refuses the node's certificate by name and sends
/// nothing (the node never binds the disk); pinned to the node's own id, it replicates and recovers byte for byte; an
/// agent with no certificate cannot be pinned (exit 2, named), since nothing could check the pin.
/// </summary>
public sealed class ProcessServerPinTests
{
    const string Disk = "disk1";

    [Fact]
    public async Task A_pinned_agent_speaks_only_to_the_process_server_its_id_names()
    {
        using var dir = new TempDir("ps-pin");
        using var site = await TlsSite.StartAsync(dir);
        var node = site.DataNode(dir, "d", "process-server,master-target");
        await node.StartAsync(TimeSpan.FromSeconds(90));
        var real = dir["real.img"];
        Files.CreateDisk(real, 32L << 20, seed: 61);

        // Unregistered: no certificate to check a pin with.
        using (var plain = new Agent("vm0", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["plain"], dir.Path))
        {
            plain.ExtraArgs.AddRange(["--process-server-id", "d-ps"]);
            var start = plain.StartAsync(TimeSpan.FromSeconds(60));
            await Assert.ThrowsAnyAsync<Exception>(() => start);
            Assert.Equal(2, await plain.Process!.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("--process-server-id d-ps: the agent holds no certificate", plain.Logs());
        }

        await site.RegisterAgentAsync("vm1", dir["agent"]);
        var before = node.Process!.Lines.Count;
        using (var wrong = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path))
        {
            wrong.ExtraArgs.AddRange(["--process-server-id", "other-ps"]);
            var start = wrong.StartAsync(TimeSpan.FromSeconds(90));
            _ = start.ContinueWith(t => t.Exception, TaskScheduler.Default);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!wrong.Process!.Lines.Any(l => l.Contains("not processserver other-ps (WrongIdentity)", StringComparison.Ordinal)))
            {
                Assert.True(DateTime.UtcNow < deadline, $"the pinned agent did not refuse the node's certificate\n{wrong.Logs()}");
                await Task.Delay(200);
            }
            await Task.Delay(1000);
            Assert.False(start.IsCompletedSuccessfully, "an agent pinned to another process server became ready");
            wrong.Kill9();
        }
        Assert.DoesNotContain(node.Process.Lines.Skip(before), l => l.Contains("agent vm1", StringComparison.Ordinal) && l.Contains("connected", StringComparison.Ordinal));

        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = real }, node.PsAddress, dir["agent"], dir.Path);
        agent.ExtraArgs.AddRange(["--process-server-id", "d-ps"]);
        await agent.StartAsync(TimeSpan.FromSeconds(90));
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri(Disk), "-c", "write -P 0x5a 3M 1M"], TimeSpan.FromMinutes(1));
        var sequence = await node.BookmarkAsync("pinned", [Disk], TimeSpan.FromSeconds(120));
        var output = dir["pinned.img"];
        var r = await node.Api.PostAsync("api/recover", new { disk = Disk, sequence, output });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        Assert.Equal(Files.Sha256(real), Files.Sha256(output));
        Assert.Contains(node.Process.Lines.Skip(before), l => l.Contains("TLS as agent vm1", StringComparison.Ordinal));
    }
}
