using System.Net;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests;

/// <summary>A node on its defaults for where images go (<c>&lt;data&gt;/recovered</c>), with room for two exports.</summary>
public sealed class ConfinedNodeFixture : IAsyncLifetime
{
    public const string Disk = "conf";
    public const long Size = 1L << 20;
    public static readonly byte[] Payload = Enumerable.Range(0, 64 << 10).Select(i => (byte)(i * 7 + 3)).ToArray();

    public TempDir Dir { get; } = new("confined");
    public Node Node { get; private set; } = null!;
    public string Recovered => Path.Combine(Node.DataDir, "recovered");

    public async Task InitializeAsync()
    {
        // Nothing but the test's own delta may reach the disk: automatic points would answer where the fake agent reads acks.
        var conf = Dir["no-auto-points.conf"];
        await File.WriteAllTextAsync(conf, "siterecovery.data-path.master-target.auto-recovery-point-interval = off\n");
        Node = new Node("confined", "all", Dir["n"], Dir.Path, null, "--config", conf, "--max-exports", "2") { RecoveryDir = null };
        await Node.StartAsync();
        await using var agent = await FakeAgent.ConnectAsync(Node.PsPort);
        await agent.HelloAsync("fake-confined", Disk, Size);
        await agent.SendDeltaAsync(FakeAgent.Write(Disk, 1, 4096, Payload));
        Assert.IsType<Ack>(await agent.ReadControlAsync());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Node.AppliedAsync(Disk) < 1)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Disk} not applied at the master target\n{Node.Logs()}");
            await Task.Delay(50);
        }
    }

    public Task DisposeAsync()
    {
        Node.Dispose();
        Dir.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// The API takes no credentials yet, so what it can make the node write or serve is bounded: recovered images only in
/// the recovery directory, never through a symlink or over a file; exports on loopback and few; private modes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConfinedFilesTests(ConfinedNodeFixture fixture) : IClassFixture<ConfinedNodeFixture>
{
    const string Disk = ConfinedNodeFixture.Disk;
    Node Node => fixture.Node;
    const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    async Task Refused(string output, string mention)
    {
        var r = await Node.Api.PostAsync("api/recover", new { disk = Disk, sequence = 1, output });
        Assert.True(r.Status == HttpStatusCode.BadRequest, $"output '{output}': got {(int)r.Status} {r.Text}, want 400 mentioning '{mention}'");
        Assert.Contains(mention, r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_output_outside_the_recovery_directory_through_a_symlink_or_over_a_file_is_refused_and_nothing_is_written()
    {
        var outside = fixture.Dir["outside"];
        Directory.CreateDirectory(outside);
        var recovered = fixture.Recovered;
        // The other tests of this class recover into the same directory, in any order.
        var before = Directory.EnumerateFileSystemEntries(recovered).ToList();

        await Refused(Path.Combine(outside, "evil.img"), "is outside the recovery directory");
        await Refused("/tmp/evil-owned.img", "is outside the recovery directory");
        await Refused("../evil.img", "contains '..'");
        await Refused($"{recovered}/../evil.img", "contains '..'");
        await Refused("sub/../../evil.img", "contains '..'");

        // A directory planted inside the recovery directory that leads out of it.
        var link = Path.Combine(recovered, "out");
        Directory.CreateSymbolicLink(link, outside);
        await Refused("out/evil.img", $"'{link}' is a symlink");
        await Refused(Path.Combine(link, "evil.img"), $"'{link}' is a symlink");
        // A symlink at the output's own name, and at its temporary name, both pointing at files that do not exist yet.
        var planted = Path.Combine(recovered, "planted.img");
        File.CreateSymbolicLink(planted, Path.Combine(outside, "planted-target.img"));
        await Refused("planted.img", $"'{planted}' is a symlink");
        var partialLink = Path.Combine(recovered, "half.img.partial");
        File.CreateSymbolicLink(partialLink, Path.Combine(outside, "half-target.img"));
        await Refused("half.img", $"'{partialLink}' is a symlink");
        // An existing file is never overwritten, named relative or absolute.
        var existing = Path.Combine(recovered, "existing.img");
        await File.WriteAllTextAsync(existing, "keep me");
        await Refused("existing.img", $"'{existing}' already exists");
        await Refused(existing, $"'{existing}' already exists");
        await Refused("missing-dir/x.img", "does not exist in the recovery directory");
        await Refused("", "a file name is required");

        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.False(File.Exists("/tmp/evil-owned.img"));
        Assert.False(File.Exists(Path.Combine(Node.DataDir, "evil.img")));
        Assert.False(File.Exists(fixture.Dir["evil.img"]));
        Assert.Equal("keep me", await File.ReadAllTextAsync(existing));
        Assert.True(Directory.EnumerateFileSystemEntries(recovered).Order().SequenceEqual(before.Concat([existing, partialLink, link, planted]).Order()),
            $"the recovery directory holds {string.Join(", ", Directory.EnumerateFileSystemEntries(recovered))}: something was written");
    }

    [Fact]
    public async Task A_relative_name_is_recovered_in_the_recovery_directory_verified_and_private()
    {
        var r = await Node.Api.PostAsync("api/recover", new { disk = Disk, sequence = 1, output = "ok.img" });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        var image = Path.Combine(fixture.Recovered, "ok.img");
        Assert.Equal(image, r.Body!["output"]!.GetValue<string>());
        Assert.Equal(Files.Sha256(image), r.Body["sha256"]!.GetValue<string>());
        var bytes = await File.ReadAllBytesAsync(image);
        Assert.Equal(ConfinedNodeFixture.Size, bytes.Length);
        Assert.True(bytes.AsSpan(4096, ConfinedNodeFixture.Payload.Length).SequenceEqual(ConfinedNodeFixture.Payload), "the recovered image does not hold the disk's write");
        Assert.Equal(Private, File.GetUnixFileMode(image));
        Assert.False(File.Exists(image + ".partial"));

        // An absolute path inside, in a real subdirectory, is as good as a relative name.
        var sub = Directory.CreateDirectory(Path.Combine(fixture.Recovered, "sub")).FullName;
        var inSub = Path.Combine(sub, "ok2.img");
        r = await Node.Api.PostAsync("api/recover", new { disk = Disk, sequence = 1, output = inSub });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        Assert.Equal(Files.Sha256(image), Files.Sha256(inSub));
    }

    [Fact]
    public void The_data_directory_and_what_holds_disk_data_are_private()
    {
        var data = Node.DataDir;
        foreach (var dir in new[] { data, fixture.Recovered, Path.Combine(data, "master-target"), Path.Combine(data, "process-server", "cache"), Path.Combine(data, "master-target", "replicas") })
            Assert.True(File.GetUnixFileMode(dir) == PrivateDirectory, $"{dir}: mode {File.GetUnixFileMode(dir)}, want {PrivateDirectory}");
        var held = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".img", StringComparison.Ordinal) && f.Contains("replicas", StringComparison.Ordinal)
                || Path.GetExtension(f) is ".open" or ".seg" or ".sopen" or ".sseg" || Path.GetFileName(f) is "journal.db" or "base.img")
            .ToList();
        Assert.Contains(held, f => Path.GetFileName(f) == "journal.db");
        Assert.Contains(held, f => f.Contains("replicas", StringComparison.Ordinal));
        Assert.Contains(held, f => Path.GetExtension(f) is ".open" or ".sopen");
        Assert.Contains(held, f => Path.GetFileName(f) == "base.img");
        foreach (var f in held) Assert.True(File.GetUnixFileMode(f) == Private, $"{f}: mode {File.GetUnixFileMode(f)}, want {Private}");
    }

    [Fact]
    public async Task Exports_listen_on_loopback_only_and_no_more_than_the_limit()
    {
        foreach (var listen in new[] { "0.0.0.0:0", "[::]:0" })
        {
            var r = await Node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = 1, listen });
            Assert.True(r.Status == HttpStatusCode.BadRequest, $"{listen}: {(int)r.Status} {r.Text}");
            Assert.Contains("is not a loopback address", r.Error, StringComparison.Ordinal);
            Assert.Contains("--exports-listen-any", r.Error, StringComparison.Ordinal);
        }
        Assert.Empty((await Node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray());

        var ids = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var r = await Node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = 1, writable = i == 1 });
            Assert.True(r.Status == HttpStatusCode.OK, r.Text);
            ids.Add(r.Body!["exportId"]!.GetValue<string>());
        }
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        var overlays = Path.Combine(Node.DataDir, "master-target", "exports");
        Assert.Equal(PrivateDirectory, File.GetUnixFileMode(overlays));
        Assert.All(Directory.GetFiles(overlays), f => Assert.Equal(Private, File.GetUnixFileMode(f)));

        var third = await Node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = 1, listen = "127.0.0.1:0" });
        Assert.True(third.Status == HttpStatusCode.Conflict, $"{(int)third.Status} {third.Text}");
        Assert.Contains("--max-exports 2", third.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await Node.Api.GetAsync($"api/disks/{Disk}/exports")).Body!.AsArray().Count);

        Assert.Equal(HttpStatusCode.OK, (await Node.Api.DeleteAsync($"api/disks/{Disk}/exports/{ids[0]}")).Status);
        var again = await Node.Api.PostAsync($"api/disks/{Disk}/exports", new { sequence = 1 });
        Assert.True(again.Status == HttpStatusCode.OK, again.Text);
        foreach (var id in new[] { ids[1], again.Body!["exportId"]!.GetValue<string>() })
            Assert.Equal(HttpStatusCode.OK, (await Node.Api.DeleteAsync($"api/disks/{Disk}/exports/{id}")).Status);
    }

    [Fact]
    public void Creating_a_new_private_file_refuses_a_dangling_symlink_at_its_name_instead_of_following_it()
    {
        var dir = fixture.Dir["dangling"];
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, "target.img");
        var link = Path.Combine(dir, "link.img");
        File.CreateSymbolicLink(link, target);
        Assert.Throws<IOException>(() => SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(link));
        Assert.False(File.Exists(target), "CreateNew followed the symlink and created its target");

        var fresh = Path.Combine(dir, "fresh.img");
        SiteRecovery.Contracts.Storage.PrivateFiles.CreateNew(fresh);
        Assert.Equal(Private, File.GetUnixFileMode(fresh));
    }
}

/// <summary>The journal's connection string can stay out of the process list, and out of the log whatever its source.</summary>
public sealed class JournalConnectionSourceTests
{
    const string Secret = "s3cret-not-for-logs";

    static string Unreachable() => $"Host=127.0.0.1;Port={Net.FreePort()};Database=sr;Username=sr;Password={Secret}";

    static async Task<string> RefusedStartAsync(TempDir dir, string name, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var node = new Node(name, "all", dir[name], dir.Path, null, ["--journal-provider", "postgres", .. args]);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) node.Environment[k] = v;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => node.StartAsync(TimeSpan.FromSeconds(60)));
        Assert.DoesNotContain(Secret, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, await File.ReadAllTextAsync(dir[$"srnode-{name}.log"]), StringComparison.Ordinal);
        return e.Message;
    }

    [Fact]
    public async Task A_connection_string_from_a_file_or_the_environment_is_used_and_never_logged()
    {
        using var dir = new TempDir("journal-cs");
        var file = dir["journal-connection"];
        var fromFile = Unreachable();
        await File.WriteAllTextAsync(file, fromFile + "\n");
        var port = fromFile.Split(';')[1];
        var refused = await RefusedStartAsync(dir, "file", null, "--journal-connection-file", file);
        Assert.Contains($"cannot connect to host 127.0.0.1:{port["Port=".Length..]}", refused, StringComparison.Ordinal);

        var fromEnv = Unreachable();
        refused = await RefusedStartAsync(dir, "env", new Dictionary<string, string> { ["SITERECOVERY_JOURNAL_CONNECTION"] = fromEnv }, []);
        Assert.Contains($"cannot connect to host 127.0.0.1:{fromEnv.Split(';')[1]["Port=".Length..]}", refused, StringComparison.Ordinal);

        refused = await RefusedStartAsync(dir, "both", null, "--journal-connection-file", file, "--journal-connection", "Host=elsewhere");
        Assert.Contains("give one of them, not both", refused, StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, "  \n");
        refused = await RefusedStartAsync(dir, "empty", null, "--journal-connection-file", file);
        Assert.Contains($"--journal-connection-file '{file}' is empty", refused, StringComparison.Ordinal);
    }
}
