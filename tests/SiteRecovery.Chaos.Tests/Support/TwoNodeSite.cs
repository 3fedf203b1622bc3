namespace SiteRecovery.Chaos.Tests.Support;

/// <summary>
/// Separate processes for the configuration + master target node (A), the process server node (B) and one agent
/// protecting one disk, each killable and restartable on the same data and ports.
/// </summary>
public sealed class TwoNodeSite : IDisposable
{
    public const string Disk = "disk1";

    public required TempDir Dir { get; init; }
    public required Node A { get; init; }
    public required Node B { get; init; }
    public required Agent Agent { get; init; }
    public required string DiskPath { get; init; }

    public static async Task<TwoNodeSite> StartAsync(string name, long diskSize, int seed)
    {
        var dir = new TempDir(name);
        var diskPath = dir["disk1.img"];
        Files.CreateDisk(diskPath, diskSize, seed);
        var a = new Node("a", "configuration,master-target", dir["a"], dir.Path);
        var b = new Node("b", "process-server", dir["b"], dir.Path, masterTarget: a.MtAddress);
        var agent = new Agent("vm1", new Dictionary<string, string> { [Disk] = diskPath }, b.PsAddress, dir["agent"], dir.Path);
        var site = new TwoNodeSite { Dir = dir, A = a, B = b, Agent = agent, DiskPath = diskPath };
        try
        {
            await a.StartAsync();
            await b.StartAsync();
            await agent.StartAsync();
        }
        catch
        {
            site.Dispose();
            throw;
        }
        return site;
    }

    /// <summary>Bookmark, hash the source (nothing writes now), recover at the bookmark, compare.</summary>
    public async Task AssertRecoveryEqualsSourceAsync(string bookmark)
    {
        // A bookmark that fails says so with every process's log, not only the node that was asked.
        try { await A.BookmarkAsync(bookmark, [Disk], TimeSpan.FromSeconds(90)); }
        catch (InvalidOperationException e) { throw new InvalidOperationException($"{e.Message.Split('\n')[0]}\n{Logs()}", e); }
        var expected = Files.Sha256(DiskPath);
        var output = Dir[$"{bookmark}.recovered.img"];
        var reported = await A.RecoverAsync(Disk, bookmark, output);
        var actual = Files.Sha256(output);
        Assert.True(expected == actual, $"recovered image {actual} differs from the source {expected}\n{Logs()}");
        Assert.Equal(expected, reported);
        File.Delete(output);
    }

    public string Logs() => $"{A.Logs()}\n{B.Logs()}\n{Agent.Logs()}";

    public void Dispose()
    {
        Agent.Dispose();
        B.Dispose();
        A.Dispose();
        Dir.Dispose();
    }
}
