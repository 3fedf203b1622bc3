using System.Security.Cryptography;
using System.Text.Json;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Node;
using Xunit;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// <c>srnode --replica-file DISK=PATH</c>: the master target keeps a disk's replica in an existing file (a reprotect writes
/// into the original disk). Every start-up refusal names the flag and the value; an offer of another size changes nothing;
/// the adopted file is fenced beside itself, kept as it is, and let go (flushed, unlocked) when the disk is closed.
/// </summary>
public sealed class ReplicaFileTests : IDisposable
{
    const long Size = 4 << 20;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "sr-replica-file-" + Guid.NewGuid().ToString("n")[..8]);
    readonly DeltaCompression _compression = new();

    public ReplicaFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        _compression.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    string Mt => Path.Combine(_dir, "node", "master-target");

    /// <summary>A file of <paramref name="size"/> bytes of seeded random content.</summary>
    string Image(string name, long size = Size, int seed = 1)
    {
        var path = Path.Combine(_dir, name);
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    ArgumentException Refused(NodeRoles roles, params string[] values)
    {
        var e = Assert.Throws<ArgumentException>(() => ReplicaFiles.Parse(values, roles, Mt));
        Assert.Contains("--replica-file", e.Message, StringComparison.Ordinal);
        return e;
    }

    ArgumentException Refused(params string[] values) => Refused(NodeRoles.All, values);

    [Fact]
    public void No_value_adopts_nothing_and_a_good_value_gives_the_full_path()
    {
        Assert.Empty(ReplicaFiles.Parse([], NodeRoles.ProcessServer, Mt));
        var orig = Image("orig.img");
        var files = ReplicaFiles.Parse([$"d1={orig}"], NodeRoles.MasterTarget, Mt);
        Assert.Equal(Path.GetFullPath(orig), files["d1"]);
        Assert.Equal(Path.GetFullPath(orig), new LocalFileReplicaStoreFactory(Path.Combine(Mt, "replicas"), "mt", files).PathFor("d1"));
        Assert.False(Directory.Exists(Mt), "start-up validation wrote into the master target's folder");
    }

    [Fact]
    public void Without_the_master_target_role_it_is_refused()
    {
        var orig = Image("orig.img");
        var e = Refused(NodeRoles.Configuration | NodeRoles.ProcessServer, $"d1={orig}");
        Assert.Contains("master-target", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("d1")]
    [InlineData("=x.img")]
    [InlineData("d1=")]
    public void A_value_not_of_the_form_disk_equals_path_is_refused(string value)
    {
        var e = Refused(value);
        Assert.Contains($"'{value}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("DISK=PATH", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../up")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    public void A_disk_id_the_factory_would_not_take_is_refused(string disk)
    {
        var orig = Image("orig.img");
        var e = Refused($"{disk}={orig}");
        Assert.Contains($"'{disk}={orig}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("may only hold letters", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_refused_naming_it()
    {
        var missing = Path.Combine(_dir, "no-such.img");
        var e = Refused($"d1={missing}");
        Assert.Contains($"'{missing}' does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(missing), "validation created the file");
    }

    [Fact]
    public void A_directory_or_an_empty_file_or_a_device_is_refused()
    {
        var folder = Path.Combine(_dir, "folder");
        Directory.CreateDirectory(folder);
        Assert.Contains("is a directory, not a regular file", Refused($"d1={folder}").Message, StringComparison.Ordinal);
        var empty = Path.Combine(_dir, "empty.img");
        File.WriteAllBytes(empty, []);
        Assert.Contains($"'{empty}' is empty or not a regular file", Refused($"d1={empty}").Message, StringComparison.Ordinal);
        Assert.Contains("'/dev/null' is empty or not a regular file", Refused("d1=/dev/null").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disk_given_twice_is_refused()
    {
        var a = Image("a.img");
        var b = Image("b.img");
        var e = Refused($"d1={a}", $"d1={b}");
        Assert.Contains($"'d1={b}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("disk d1 is given more than once", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_disks_on_one_file_are_refused_also_through_a_link()
    {
        var a = Image("a.img");
        var e = Refused($"d1={a}", $"d2={a}");
        Assert.Contains($"'d2={a}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("is already the replica file of disk d1", e.Message, StringComparison.Ordinal);

        var link = Path.Combine(_dir, "link.img");
        File.CreateSymbolicLink(link, a);
        e = Refused($"d1={a}", $"d2={link}");
        Assert.Contains("is already the replica file of disk d1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disk_whose_replica_is_at_the_default_place_is_not_switched()
    {
        var orig = Image("orig.img");
        var replicas = Path.Combine(Mt, "replicas");
        Directory.CreateDirectory(replicas);
        var existing = Path.Combine(replicas, "d1.img");
        File.WriteAllBytes(existing, new byte[4096]);
        var e = Refused($"d1={orig}");
        Assert.Contains(existing, e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{orig}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("refused rather than switching", e.Message, StringComparison.Ordinal);
    }

    void WriteDiskFile(string disk, object content)
    {
        Directory.CreateDirectory(Path.Combine(Mt, "disks", disk));
        File.WriteAllBytes(Path.Combine(Mt, "disks", disk, "disk.json"), JsonSerializer.SerializeToUtf8Bytes(content));
    }

    [Fact]
    public void A_disk_json_of_another_size_is_refused_naming_both_files_and_sizes()
    {
        var orig = Image("orig.img");
        WriteDiskFile("d1", new { DiskId = "d1", SizeBytes = Size * 2 });
        var e = Refused($"d1={orig}");
        Assert.Contains(Path.Combine(Mt, "disks", "d1", "disk.json"), e.Message, StringComparison.Ordinal);
        Assert.Contains($"'{orig}' is {Size} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{Size * 2} bytes", e.Message, StringComparison.Ordinal);

        WriteDiskFile("d1", "not a disk file");
        Assert.Contains("cannot be read", Refused($"d1={orig}").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disk_json_of_the_same_size_is_a_restart_with_the_same_file_and_is_accepted()
    {
        var orig = Image("orig.img");
        WriteDiskFile("d1", new { DiskId = "d1", SizeBytes = Size });
        Assert.Equal(Path.GetFullPath(orig), ReplicaFiles.Parse([$"d1={orig}"], NodeRoles.MasterTarget, Mt)["d1"]);
    }

    LocalFileReplicaStoreFactory Factory(string orig, string owner = "mt-1") =>
        new(Path.Combine(Mt, "replicas"), owner, new Dictionary<string, string> { ["d1"] = orig });

    Task<ReplicaDisk> OpenDisk(LocalFileReplicaStoreFactory factory, long size) =>
        ReplicaDisk.OpenAsync(Path.Combine(Mt, "disks", "d1"), "d1", size, factory, _compression, new SegmentLogOptions(), TimeSpan.FromSeconds(1), default);

    [Fact]
    public async Task An_offer_of_another_size_is_refused_naming_the_file_and_both_sizes_and_changes_nothing()
    {
        var orig = Image("orig.img");
        var before = Sha256(orig);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => OpenDisk(Factory(orig), Size + 4096));
        Assert.Contains(orig, e.Message, StringComparison.Ordinal);
        Assert.Contains($"{Size} bytes", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{Size + 4096} bytes", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, Sha256(orig));
        Assert.Equal(Size, new FileInfo(orig).Length);
        Assert.False(Directory.Exists(Path.Combine(Mt, "disks", "d1")), "a refused offer left the disk's folder (disk.json, journal) behind");
        Assert.False(File.Exists(orig + ".lock"), "a refused offer took the fence");

        // The right size is then taken, and the content is the file's own.
        await using var disk = await OpenDisk(Factory(orig), Size);
        Assert.Equal(0, disk.DurableThrough);
        var head = new byte[4096];
        await disk.Replica.ReadAsync(0, head);
        // The file is held exclusively while adopted: its content is compared with what it held before.
        var expected = new byte[Size];
        new Random(1).NextBytes(expected);
        Assert.Equal(expected.AsSpan(0, 4096).ToArray(), head);
    }

    [Fact]
    public async Task A_file_an_agent_still_serves_is_not_adopted_and_the_refusal_says_why()
    {
        var orig = Image("orig.img");
        // The original machine's agent opens its disks shared for reading and writing.
        using (var agent = File.OpenHandle(orig, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => OpenDisk(Factory(orig), Size));
            Assert.Contains("is in use by another process", e.Message);
            Assert.Contains(orig, e.Message);
        }
        await using var disk = await OpenDisk(Factory(orig), Size);
    }

    [Fact]
    public async Task The_adopted_file_is_fenced_beside_itself_kept_as_it_is_and_let_go_on_close()
    {
        var orig = Image("orig.img");
        var content = File.ReadAllBytes(orig);
        var disk = await OpenDisk(Factory(orig), Size);
        Assert.False(File.Exists(Path.Combine(Mt, "replicas", "d1.img")), "the default replica was created beside the adopted file");
        Assert.Throws<ReplicaFencedException>(() => LocalFileReplicaStore.Open(orig, "d1", Size, "someone-else"));
        // The file itself is held exclusively: an agent starting on it (it opens its disks shared) is refused.
        Assert.Throws<IOException>(() => File.OpenHandle(orig, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite).Dispose());

        var payload = Enumerable.Repeat((byte)0x5c, 4096).ToArray();
        var delta = Delta.Create("d1", 1, DeltaKind.Write, 8192, 4096, payload, 1_700_000_000_000);
        await disk.Gate.WaitAsync();
        try
        {
            await disk.AppendAsync(delta, _compression.EncodeStored(delta, compress: false), default);
            Assert.Equal(1, await disk.CommitAsync(default));
        }
        finally { disk.Gate.Release(); }
        await disk.DisposeAsync();

        // Closed: flushed through the last durable delta (the checkpoint says so) and unlocked for the original machine.
        Assert.Equal("1", File.ReadAllText(Path.Combine(Mt, "disks", "d1", "replica.checkpoint")).Trim());
        await using (var other = LocalFileReplicaStore.Open(orig, "d1", Size, "original-machine")) { }
        payload.CopyTo(content, 8192);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(content)), Sha256(orig));
        Assert.True(File.Exists(orig), "the adopted file is gone");
    }
}
