using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// Reprotect into the original disk: <c>srnode --replica-file d1=ORIG</c> keeps disk d1's replica in the existing file ORIG.
/// Real processes: an sragent serving SRC (ORIG with a few 1 MiB blocks changed since the "failover") replicates into
/// ORIG; after the agent stops and the node gets SIGTERM, ORIG is SRC byte for byte, flushed and unlocked.
/// </summary>
public sealed class ReplicaFileTests
{
    const long DiskSize = 64L << 20;
    const string Disk = "d1";
    static readonly long[] ChangedMiB = [3, 17, 40, 63];

    /// <summary>ORIG: 64 MiB of seeded random bytes. SRC: the same, with <see cref="ChangedMiB"/> rewritten.</summary>
    static (string Orig, string Src) Images(TempDir dir, long srcSize = DiskSize)
    {
        var orig = dir["orig.img"];
        var content = new byte[DiskSize];
        new Random(7).NextBytes(content);
        File.WriteAllBytes(orig, content);
        var changed = new Random(8);
        foreach (var mib in ChangedMiB) changed.NextBytes(content.AsSpan((int)(mib << 20), 1 << 20));
        var src = dir["src.img"];
        using (var f = new FileStream(src, FileMode.CreateNew, FileAccess.Write))
        {
            f.Write(content, 0, (int)Math.Min(srcSize, DiskSize));
            f.SetLength(srcSize);
        }
        return (orig, src);
    }

    static Node NodeWith(TempDir dir, string orig) => new("rf", "all", dir["n"], dir.Path, null, "--replica-file", $"{Disk}={orig}");

    static bool IsLocked(string lockFile)
    {
        try
        {
            using var f = new FileStream(lockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException) { return true; }
    }

    [Fact]
    public async Task Replication_writes_into_the_original_file_and_a_sigterm_leaves_it_equal_to_the_source_flushed_and_unlocked()
    {
        using var dir = new TempDir("replica-file");
        var (orig, src) = Images(dir);
        var srcSha = Files.Sha256(src);
        Assert.NotEqual(srcSha, Files.Sha256(orig));
        using var node = NodeWith(dir, orig);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = src }, node.PsAddress, dir["agent"], dir.Path);
        await agent.StartAsync();
        string Logs() => node.Logs(60) + "\n" + agent.Logs(60);

        var done = await agent.Process!.WaitForLineAsync(l => l.Contains($"disk {Disk}: resync scanned", StringComparison.Ordinal), TimeSpan.FromSeconds(120), "the first sync");
        var last = long.Parse(System.Text.RegularExpressions.Regex.Match(done, @"complete at #(\d+)").Groups[1].Value);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await node.AppliedAsync(Disk) < last)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the master target did not reach #{last}\n{Logs()}");
            await Task.Delay(100);
        }

        // The node's replica of d1 IS the original file: named at start, fenced beside it, none at the default place.
        // A log line reaches the test through the process's output (the node's through its logger's queue), after the state the test saw: it is waited for.
        await node.Process!.WaitForLineAsync(l => l.Contains($"disk {Disk}'s replica is the existing file {orig}", StringComparison.Ordinal), TimeSpan.FromSeconds(30), $"disk {Disk}'s replica is the existing file {orig}");
        Assert.False(File.Exists(Path.Combine(dir["n"], "master-target", "replicas", $"{Disk}.img")), "a replica was created at the default place");
        Assert.True(IsLocked(orig + ".lock"), $"'{orig}.lock' is not held while the node runs");
        Assert.Equal(DiskSize, new FileInfo(orig).Length);
        // The file itself is held exclusively while adopted: an agent (which opens its disks shared) cannot start on it.
        Assert.Throws<IOException>(() => File.OpenHandle(orig, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite).Dispose());

        await agent.StopAsync();
        Assert.Equal(0, agent.Process.ExitCode);
        // Nothing more arrives once the agent has stopped: what is durable now is what the SIGTERM must flush.
        long applied;
        var stable = 0;
        deadline = DateTime.UtcNow.AddSeconds(30);
        for (var previous = -2L; ; previous = applied)
        {
            applied = await node.AppliedAsync(Disk);
            stable = applied == previous ? stable + 1 : 0;
            if (stable >= 5) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the master target kept moving after the agent stopped\n{Logs()}");
            await Task.Delay(200);
        }
        await node.StopAsync();
        Assert.True(node.Process.HasExited && node.Process.ExitCode == 0, $"the node did not stop cleanly on SIGTERM (exit {(node.Process.HasExited ? node.Process.ExitCode : -1)})\n{Logs()}");

        // Flushed through the last durable delta (the close writes the checkpoint after the replica's fsync), unlocked, kept.
        var checkpoint = long.Parse(await File.ReadAllTextAsync(Path.Combine(dir["n"], "master-target", "disks", Disk, "replica.checkpoint")));
        Assert.True(checkpoint == applied, $"replica checkpoint #{checkpoint} after SIGTERM, want #{applied}\n{Logs()}");
        Assert.False(IsLocked(orig + ".lock"), "the original file is still fenced after the node stopped");
        Assert.Equal(DiskSize, new FileInfo(orig).Length);
        Assert.Equal(srcSha, Files.Sha256(orig));
    }

    [Fact]
    public async Task An_offer_of_another_size_is_refused_and_the_original_file_is_unchanged()
    {
        using var dir = new TempDir("replica-file-size");
        var (orig, src) = Images(dir, srcSize: DiskSize / 2);
        var before = Files.Sha256(orig);
        using var node = NodeWith(dir, orig);
        await node.StartAsync();
        using var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = src }, node.PsAddress, dir["agent"], dir.Path);
        var agentStart = agent.StartAsync(TimeSpan.FromSeconds(30));
        var reason = $"replica file '{orig}' (--replica-file) is {DiskSize} bytes, but the disk is offered with {DiskSize / 2} bytes";
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!node.Process!.HasLine(l => l.Contains(reason, StringComparison.Ordinal)) && !(agent.Process?.HasLine(l => l.Contains(reason, StringComparison.Ordinal)) ?? false))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no refusal naming '{orig}' and both sizes\n{node.Logs(60)}\n{agent.Logs(60)}");
            await Task.Delay(100);
        }
        agent.Process?.Kill9();
        try { await agentStart; } catch (Exception e) when (e is InvalidOperationException or TimeoutException) { } // a refused disk may keep the agent from ready
        await node.StopAsync();
        Assert.Equal(before, Files.Sha256(orig));
        Assert.Equal(DiskSize, new FileInfo(orig).Length);
        Assert.False(File.Exists(Path.Combine(dir["n"], "master-target", "disks", Disk, "disk.json")), "a refused offer recorded the disk");
    }

    [Fact]
    public async Task The_node_refuses_to_start_when_the_file_is_missing()
    {
        using var dir = new TempDir("replica-file-missing");
        var missing = dir["no-such.img"];
        var r = await ExternalTool.RunAsync("dotnet", [Repo.NodeDll, "run", "--id", "bad", "--data", dir["n"], "--ps-listen", $"127.0.0.1:{Net.FreePort()}",
            "--mt-listen", $"127.0.0.1:{Net.FreePort()}", "--api", $"http://127.0.0.1:{Net.FreePort()}", "--replica-file", $"{Disk}={missing}"], TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, want 2:\n{r.Output}");
        Assert.Contains("--replica-file", r.StdErr, StringComparison.Ordinal);
        Assert.Contains($"'{missing}' does not exist", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", r.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(missing), "the refused start created the file");
    }
}
