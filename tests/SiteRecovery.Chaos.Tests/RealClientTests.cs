using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>fio, qemu-io and nbdcopy against the agent's export of an all-in-one site; two bookmarks recover two different states.</summary>
public sealed class RealClientTests
{
    const long DiskSize = 64L << 20;
    const string Disk = "disk1";

    [Fact]
    public async Task Fio_qemu_io_and_nbdcopy_writes_recover_at_each_bookmark()
    {
        using var site = await Site.StartAsync("clients", seed: 5);
        var (dir, node, agent, diskPath) = (site.Dir, site.Node, site.Agent, site.DiskPath);
        var uri = agent.Uri(Disk);
        var minute = TimeSpan.FromMinutes(1);

        var fio = await ExternalTool.RunOkAsync("fio", Tools.FioRandWrite(uri, "clients", 64, 32), TimeSpan.FromMinutes(2));
        Assert.DoesNotContain("verify", fio.StdErr, StringComparison.OrdinalIgnoreCase);

        var qemu = await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri,
            "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 512k 64k", "-c", "write -z 2M 1M", "-c", "discard 8M 1M",
            "-c", "write -P 0x11 60M 2M", "-c", "read -P 0xcd 512k 64k", "-c", "read -P 0x11 60M 2M", "-c", "read -P 0 2M 1M"], minute);
        Assert.DoesNotContain("fail", qemu.Output, StringComparison.OrdinalIgnoreCase);

        var local = dir["local.bin"];
        var bytes = new byte[3 << 20];
        new Random(99).NextBytes(bytes);
        await File.WriteAllBytesAsync(local, bytes);
        await ExternalTool.RunOkAsync("nbdcopy", [local, uri], minute);
        var check = await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "read -P 0x11 60M 2M"], minute);
        Assert.DoesNotContain("fail", check.Output, StringComparison.OrdinalIgnoreCase);

        await node.BookmarkAsync("bm-1", [Disk], TimeSpan.FromSeconds(60));
        // Nothing writes between the bookmark and this copy: it is the source as of bm-1.
        var atBm1 = dir["disk1.at-bm1.img"];
        File.Copy(diskPath, atBm1);
        var expected1 = Files.Sha256(atBm1);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)),
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(atBm1).AsSpan(0, bytes.Length))));

        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", uri, "-c", "write -P 0x77 0 4M", "-c", "write -z 40M 2M"], minute);
        await ExternalTool.RunOkAsync("fio", Tools.FioRandWrite(uri, "clients2", 64, 8), TimeSpan.FromMinutes(2));
        await node.BookmarkAsync("bm-2", [Disk], TimeSpan.FromSeconds(60));
        var expected2 = Files.Sha256(diskPath);
        Assert.NotEqual(expected1, expected2);

        var out2 = dir["bm2.img"];
        Assert.Equal(expected2, await node.RecoverAsync(Disk, "bm-2", out2));
        Assert.Equal(expected2, Files.Sha256(out2));
        var out1 = dir["bm1.img"];
        Assert.Equal(expected1, await node.RecoverAsync(Disk, "bm-1", out1));
        Assert.Equal(expected1, Files.Sha256(out1));

        var view = await node.Api.GetAsync($"api/disks/{Disk}");
        var points = view.Body!["recoveryPoints"]!.AsArray().Select(p => p!["bookmarkId"]!.GetValue<string>()).ToList();
        Assert.Contains("bm-1", points);
        Assert.Contains("bm-2", points);
    }

    /// <summary>
    /// The agent advertises NBD_FLAG_CAN_MULTI_CONN, so nbdcopy writes over several connections at once. Writes from all
    /// of them are numbered in the order they are applied, so the replica at a bookmark is still the source byte for byte.
    /// </summary>
    [Fact]
    public async Task Nbdcopy_over_several_connections_recovers_byte_for_byte()
    {
        using var site = await Site.StartAsync("multiconn", seed: 8);
        var (dir, node, agent, diskPath) = (site.Dir, site.Node, site.Agent, site.DiskPath);

        var local = dir["local.bin"];
        var bytes = new byte[48 << 20];
        new Random(17).NextBytes(bytes);
        await File.WriteAllBytesAsync(local, bytes);
        var copy = await ExternalTool.RunOkAsync("nbdcopy", ["-v", "--connections=4", "--threads=4", local, agent.Uri(Disk)], TimeSpan.FromMinutes(2));
        // nbdcopy falls back to one connection when the server does not advertise multi-conn.
        Assert.Contains("connections=4", copy.Output, StringComparison.Ordinal);

        await node.BookmarkAsync("copied", [Disk], TimeSpan.FromSeconds(60));
        var expected = Files.Sha256(diskPath);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)),
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(diskPath).AsSpan(0, bytes.Length))));
        var recovered = dir["recovered.img"];
        Assert.Equal(expected, await node.RecoverAsync(Disk, "copied", recovered));
        Assert.Equal(expected, Files.Sha256(recovered));
    }

    /// <summary>An all-in-one node and one agent serving <see cref="Disk"/>, from a disk image filled from a seed.</summary>
    sealed class Site(TempDir dir, Node node, Agent agent, string diskPath) : IDisposable
    {
        public TempDir Dir { get; } = dir;
        public Node Node { get; } = node;
        public Agent Agent { get; } = agent;
        public string DiskPath { get; } = diskPath;

        public static async Task<Site> StartAsync(string name, int seed)
        {
            var dir = new TempDir(name);
            Node? node = null;
            Agent? agent = null;
            try
            {
                var diskPath = dir["disk1.img"];
                Files.CreateDisk(diskPath, DiskSize, seed);
                node = new Node("n", "all", dir["n"], dir.Path);
                await node.StartAsync();
                agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, node.PsAddress, dir["agent"], dir.Path);
                await agent.StartAsync();
                return new Site(dir, node, agent, diskPath);
            }
            catch
            {
                // A start that failed half way still stops what it started.
                agent?.Dispose();
                node?.Dispose();
                dir.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Agent.Dispose();
            Node.Dispose();
            Dir.Dispose();
        }
    }
}
