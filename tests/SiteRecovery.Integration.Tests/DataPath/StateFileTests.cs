using SiteRecovery.Actors.DataPath;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// The small state files beside the data (the process server's per-disk <c>size</c>, the master target's
/// <c>disk.json</c>, the agent's <c>&lt;disk&gt;.state.json</c>): written atomically, and a start-up that meets one
/// empty or torn (what a power loss left of a write that was not fsync'd) names the file and what to do.
/// </summary>
public sealed class StateFileTests : IDisposable
{
    const long Size = 32L << 20;
    readonly string _dir = Tools.TempDirectory("state-files");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    static void SeedSome(string _, FileStream f)
    {
        var block = new byte[1 << 20];
        new Random(7).NextBytes(block);
        f.Position = 3L << 20;
        f.Write(block);
    }

    sealed class CrashAt(string step) : Exception($"crashed at {step}");

    [Fact]
    public void A_write_that_crashes_before_its_rename_leaves_the_live_file_whole_and_the_next_write_goes_through()
    {
        var path = Path.Combine(_dir, "f");
        DurableFile.WriteAtomically(path, "old"u8, null, "f");
        var crash = Assert.Throws<CrashAt>(() => DurableFile.WriteAtomically(path, "new content"u8, step => { if (step == "f.temp-written") throw new CrashAt(step); }, "f"));
        Assert.Equal("crashed at f.temp-written", crash.Message);
        Assert.True(File.Exists(path + DurableFile.TempSuffix), "the crash should leave the temp file behind");
        Assert.Equal("old", File.ReadAllText(path));

        DurableFile.WriteAtomically(path, "newer"u8, null, "f");
        Assert.Equal("newer", File.ReadAllText(path));
        Assert.False(File.Exists(path + DurableFile.TempSuffix));
    }

    [Fact]
    public void An_unchanged_file_is_not_rewritten()
    {
        var path = Path.Combine(_dir, "f");
        var steps = new List<string>();
        Assert.True(DurableFile.WriteIfChanged(path, "1234"u8, steps.Add, "f"));
        Assert.False(DurableFile.WriteIfChanged(path, "1234"u8, steps.Add, "f"));
        Assert.True(DurableFile.WriteIfChanged(path, "12345"u8, steps.Add, "f"));
        Assert.Equal(new[] { "f.temp-written", "f.renamed", "f.temp-written", "f.renamed" }, steps);
    }

    [Theory]
    [InlineData("")]
    [InlineData("335a")]
    [InlineData("0")]
    public void A_damaged_process_server_size_file_is_named(string content)
    {
        var path = Path.Combine(_dir, "size");
        File.WriteAllText(path, content);
        var e = Assert.Throws<DurableFileUnreadableException>(() => ProcessServer.ReadSize(path));
        Assert.Equal(Path.GetFullPath(path), e.FilePath);
        Assert.Contains($"'{Path.GetFullPath(path)}'", e.Message);
        Assert.Contains("Delete it to let the disk be re-offered", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"DiskId\":\"disk1\",\"SizeBy")]
    [InlineData("null")]
    [InlineData("{\"DiskId\":\"disk2\",\"SizeBytes\":4096}")]
    public void A_damaged_disk_json_is_named(string content)
    {
        var path = Path.Combine(_dir, "disk.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<DurableFileUnreadableException>(() => ReplicaDisk.ReadRecordedSize(path, "disk1"));
        Assert.Contains($"'{Path.GetFullPath(path)}'", e.Message);
        Assert.Contains("Delete it to let the disk be re-offered", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"LastSequence\":41,\"Cle")]
    [InlineData("null")]
    public void A_damaged_agent_state_file_is_named_never_taken_for_no_file(string content)
    {
        var path = Path.Combine(_dir, "disk1.state.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<DurableFileUnreadableException>(() => AgentStateFile.Load(path));
        Assert.Contains($"'{Path.GetFullPath(path)}'", e.Message);
        Assert.Null(AgentStateFile.Load(Path.Combine(_dir, "none.state.json")));
    }

    [Fact]
    public void The_agent_state_file_survives_a_crash_before_its_rename()
    {
        var path = Path.Combine(_dir, "disk1.state.json");
        new AgentStateFile(41, Clean: true).Save(path);
        Assert.Throws<CrashAt>(() => new AgentStateFile(90, Clean: false).Save(path, step => { if (step.EndsWith(".temp-written", StringComparison.Ordinal)) throw new CrashAt(step); }));
        Assert.Equal(new AgentStateFile(41, Clean: true), AgentStateFile.Load(path));
    }

    async Task AssertRecoversTheSource(Site site)
    {
        await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x5a 1M 256k\"", TimeSpan.FromMinutes(2));
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        var bm = await site.Target.BookmarkAsync("after-" + Guid.NewGuid().ToString("n")[..6], ["disk1"], TimeSpan.FromSeconds(30), default);
        var output = Path.Combine(site.Root, "r.img");
        await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
        Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
    }

    static async Task WaitForLog(Site site, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            lock (site.Log) if (site.Log.Any(l => l.Contains(text, StringComparison.Ordinal))) return;
            await Task.Delay(50);
        }
        lock (site.Log) Assert.Fail($"no log line contains \"{text}\"; last lines:\n{string.Join("\n", site.Log.TakeLast(20))}");
    }

    [Fact]
    public async Task An_empty_size_file_does_not_stop_the_process_server_names_the_file_and_the_disk_returns_once_it_is_deleted()
    {
        await using var site = await Site.StartAsync("ps-size", 1, Size, SeedSome);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        await site.Agent.DisposeAsync();
        await site.Process.DisposeAsync();

        // What a power loss leaves of a size file written in place without fsync.
        var sizeFile = Path.Combine(site.Root, "ps-cache", "disk1", "size");
        File.WriteAllText(sizeFile, "");
        await site.StartProcessServerAsync();
        await WaitForLog(site, $"process server disk size file '{sizeFile}' is empty", TimeSpan.FromSeconds(5));

        // The agent's offer is refused with the same words until the operator deletes the file.
        var agent = site.StartAgentAsync();
        await WaitForLog(site, $"process server refused disk disk1: process server disk size file '{sizeFile}' is empty", TimeSpan.FromSeconds(20));
        Assert.False(agent.IsCompleted);
        File.Delete(sizeFile);
        await agent;
        Assert.Equal(Size.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(sizeFile));
        await AssertRecoversTheSource(site);
    }

    [Fact]
    public async Task A_torn_disk_json_is_named_and_the_disk_returns_once_it_is_deleted()
    {
        await using var site = await Site.StartAsync("mt-disk-json", 1, Size, SeedSome);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        await site.Agent.DisposeAsync();
        await site.Process.DisposeAsync();
        await site.Target.DisposeAsync();

        var diskJson = Path.Combine(site.Root, "mt", "disks", "disk1", "disk.json");
        File.WriteAllText(diskJson, "{\"DiskId\":\"disk1\",\"Si");
        await site.StartTargetAsync();
        await site.StartProcessServerAsync();
        var agent = site.StartAgentAsync();
        await WaitForLog(site, $"master target disk file of disk1 '{diskJson}' cannot be parsed", TimeSpan.FromSeconds(20));
        await WaitForLog(site, "Delete it to let the disk be re-offered", TimeSpan.FromSeconds(1));
        File.Delete(diskJson);
        await agent;
        Assert.Contains("\"SizeBytes\":" + Size, File.ReadAllText(diskJson));
        await AssertRecoversTheSource(site);
    }

    [Fact]
    public async Task An_empty_agent_state_file_is_named_and_leads_to_a_full_resync()
    {
        await using var site = await Site.StartAsync("agent-state", 1, Size, SeedSome);
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        await site.Agent.DisposeAsync();
        var statePath = Path.Combine(site.Root, "agent", "disk1.state.json");
        Assert.Contains("\"Clean\":true", File.ReadAllText(statePath));
        // Writes the stream never saw, then the clean record lost: only a full resync can bring them over.
        await using (var f = new FileStream(site.DiskPaths[0], FileMode.Open))
        {
            f.Position = 9L << 20;
            f.Write(Enumerable.Repeat((byte)0x66, 100_000).ToArray());
        }
        File.WriteAllText(statePath, "");

        await site.StartAgentAsync();
        await site.CatchUpAsync(TimeSpan.FromSeconds(60));
        await WaitForLog(site, $"agent state file '{statePath}' is empty", TimeSpan.FromSeconds(1));
        await WaitForLog(site, "resync started (AgentRestartedWithoutTracking)", TimeSpan.FromSeconds(1));
        await AssertRecoversTheSource(site);
    }
}
