using System.Net;
using SiteRecovery.Chaos.Tests.Support;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// POST /api/returns (the original site's half of a failback that returns a machine) with requests it cannot serve, on
/// a real node whose master target holds one original disk file: each is refused naming what is wrong, and nothing is
/// changed: the disk is not given back (no note), no agent or machine folder is made, the file is as it was.
/// </summary>
public sealed class ReturnRequestTests
{
    [Fact]
    public async Task A_return_the_node_cannot_serve_is_refused_by_name_and_changes_nothing()
    {
        using var dir = new TempDir("return-bad");
        var orig = dir["vm1-data.img"];
        await File.WriteAllBytesAsync(orig, Enumerable.Repeat((byte)0x5a, 1 << 20).ToArray());
        var before = await GuestMachines.Sha256Async(orig);
        using var node = new Node("orig", "process-server,master-target", dir["o"], dir.Path, null, "--replica-file", $"vm1-data={orig}");
        await node.StartAsync();

        object Request(string job = "j1", string machine = "vm1", string[]? disks = null, string processServer = "127.0.0.1:9") =>
            new { jobId = job, machineId = machine, disks = disks ?? ["vm1-data"], processServer, name = "vm1", memoryMiB = 256, cpus = 1, firmware = "bios" };
        foreach (var (body, says) in new (object Body, string Says)[]
                 {
                     (Request(job: "../escape"), "jobId: '../escape' is not a failover job id"),
                     (Request(machine: ".."), "machineId: '..' is not a machine id"),
                     (Request(processServer: "somewhere"), "processServer 'somewhere' is not HOST:PORT"),
                     (Request(disks: []), "disks: at least one disk is needed"),
                     (Request(disks: ["vm1-data", "vm9-boot"]), "disk vm9-boot has no original file on this node"),
                 })
        {
            var r = await node.Api.PostAsync("api/returns", body);
            Assert.True(r.Status == HttpStatusCode.BadRequest, $"{says}: {r.Status} {r.Text}");
            Assert.Contains(says, r.Error);
        }
        Assert.False(Directory.Exists(Path.Combine(node.DataDir, "returns")), "a refused return made a machine folder");
        Assert.Empty(Directory.EnumerateFiles(node.DataDir, "returned", SearchOption.AllDirectories));
        Assert.Equal(before, await GuestMachines.Sha256Async(orig));
    }
}
