using System.Diagnostics;
using System.Text.Json;
using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Journal.Tests;

/// <summary>
/// The replica conformance suite on Azure page blobs, against Azurite; plus what only a page blob has: the blob is a
/// fixed VHD qemu reads back byte for byte, the page-blob size limit, and named permanent errors. With write coalescing
/// on (the shipped setting); <see cref="PageBlobUncoalescedConformanceTests"/> runs the same cases with it off.
/// </summary>
public class PageBlobReplicaStoreConformanceTests : ReplicaStoreConformanceTests
{
    /// <summary>Whether the stores of this run coalesce writes (<see cref="PageBlobReplicaOptions.CoalesceWrites"/>).</summary>
    protected virtual bool Coalesce => true;

    private readonly TempDir _dir = new();
    private readonly string _container = Azurite.NewContainer("conf");
    private readonly StorageAccount _account;

    public PageBlobReplicaStoreConformanceTests()
    {
        Azurite.RequireRunning();
        _account = Azurite.Account(_dir);
    }

    protected override IReplicaStoreFactory Factory(string owner) => new PageBlobReplicaStoreFactory(_account, Azurite.Options(_container, coalesce: Coalesce), owner);

    private BlobContainerClient Container => new BlobServiceClient(Azurite.ConnectionString()).GetBlobContainerClient(_container);

    public override async Task DisposeAsync()
    {
        await Container.DeleteIfExistsAsync();
        _dir.Dispose();
    }

    /// <summary>
    /// Writes and zeroes to overlapping ranges, started one after another without waiting, land in the order they were
    /// started (the store runs one mutation at a time). Not a case of the shared suite: the master target awaits each
    /// call, and the local store's zeroes are asynchronous file writes that an un-awaited later write can overtake.
    /// </summary>
    [Fact]
    public async Task OverlappingWritesKeepTheirOrder()
    {
        const int size = 64 * 1024;
        var reference = new byte[size];
        await using var store = await Factory("owner-a").OpenAsync("disk-9", size);
        var pending = new List<Task>();
        for (var i = 0; i < 40; i++)
        {
            var offset = i * 777 % 20000;
            var length = 5000 + i * 13;
            if (i % 5 == 4)
            {
                pending.Add(store.ZeroAsync(offset + 3, 999).AsTask());
                Array.Clear(reference, offset + 3, 999);
                continue;
            }
            var data = Enumerable.Repeat((byte)(i + 1), length).ToArray();
            pending.Add(store.WriteAsync(offset, data).AsTask());
            data.CopyTo(reference, offset);
        }
        await Task.WhenAll(pending);
        AssertSame(reference, await ReadAll(store), "whole disk after overlapping writes");
    }

    [Fact]
    public async Task DownloadedBlobIsAValidFixedVhdThatQemuReadsBack()
    {
        const int size = 5 * 1024 * 1024 + 1536;
        var reference = new byte[size];
        await using (var store = await Factory("owner-a").OpenAsync("disk-vhd", size))
        {
            var rng = new Random(9);
            for (var i = 0; i < 40; i++)
            {
                var length = rng.Next(1, 300_000);
                var offset = rng.Next(0, size - length);
                var data = new byte[length];
                rng.NextBytes(data);
                await store.WriteAsync(offset, data);
                data.CopyTo(reference, offset);
            }
            await store.ZeroAsync(4096, 70_000);
            Array.Clear(reference, 4096, 70_000);
            await store.FlushAsync();
        }

        var vhd = _dir.Sub("disk.vhd");
        await Container.GetBlobClient("disk-vhd.vhd").DownloadToAsync(vhd);
        Assert.Equal(size + 512, new FileInfo(vhd).Length);
        var footer = VhdFooter.Parse(File.ReadAllBytes(vhd).AsSpan(size));
        Assert.Equal(size, footer.CurrentSize);
        Assert.Equal(VhdGeometry.For(size), footer.Geometry);

        using var info = JsonDocument.Parse(Run("qemu-img", "info", "-f", "vpc", "--output=json", vhd));
        Assert.Equal("vpc", info.RootElement.GetProperty("format").GetString());
        Assert.Equal(size, info.RootElement.GetProperty("virtual-size").GetInt64());
        var raw = _dir.Sub("disk.raw");
        Run("qemu-img", "convert", "-f", "vpc", "-O", "raw", vhd, raw);
        AssertSame(reference, File.ReadAllBytes(raw), "qemu-img convert -f vpc of the downloaded blob");
    }

    [Fact]
    public async Task SizesUpToThePageBlobVhdLimit()
    {
        var factory = Factory("owner-a");
        var tooBig = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => factory.OpenAsync("disk-big", PageBlobReplicaStore.MaxDiskSize + 512).AsTask());
        Assert.Contains("page-blob VHD limit", tooBig.Message);
        Assert.Contains("disk-big", tooBig.Message);
        var odd = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => factory.OpenAsync("disk-odd", 1000).AsTask());
        Assert.Contains("multiple of 512", odd.Message);

        // The largest disk: an 8 TiB page blob (sparse, nothing but its footer and one sector are stored).
        await using var store = await factory.OpenAsync("disk-max", PageBlobReplicaStore.MaxDiskSize);
        // Refused before anything was made for them.
        Assert.DoesNotContain(Container.GetBlobs(), b => b.Name.StartsWith("disk-big") || b.Name.StartsWith("disk-odd"));
        await store.WriteAsync(PageBlobReplicaStore.MaxDiskSize - 3, new byte[] { 1, 2, 3 });
        var tail = new byte[3];
        await store.ReadAsync(PageBlobReplicaStore.MaxDiskSize - 3, tail);
        Assert.Equal(new byte[] { 1, 2, 3 }, tail);
        Assert.Equal(8L << 40, (await Container.GetBlobClient("disk-max.vhd").GetPropertiesAsync()).Value.ContentLength);
    }

    [Fact]
    public async Task PermanentErrorsNameTheDiskAndTheReason()
    {
        // Wrong key: refused at open, named.
        var wrongKey = Convert.ToBase64String(new byte[64]);
        var denied = await Assert.ThrowsAsync<PageBlobReplicaException>(() =>
            new PageBlobReplicaStoreFactory(Azurite.Account(_dir, key: wrongKey), Azurite.Options(_container), "o").OpenAsync("disk-auth", 4096).AsTask());
        Assert.Equal(PageBlobFailureReason.AuthenticationFailed, denied.Reason);
        Assert.Contains("disk-auth", denied.Message);
        Assert.DoesNotContain(wrongKey, denied.ToString());

        // The container deleted under an open store: the next write, or at the latest the flush that uploads it, stops with
        // the reason, naming the disk; so does every write after it.
        await using var store = await Factory("o").OpenAsync("disk-gone", 8192);
        await store.WriteAsync(0, new byte[512]);
        await store.FlushAsync();
        await Container.DeleteAsync();
        var gone = await Assert.ThrowsAsync<PageBlobReplicaException>(async () =>
        {
            await store.WriteAsync(512, new byte[512]);
            await store.FlushAsync();
        });
        Assert.Equal(PageBlobFailureReason.ContainerNotFound, gone.Reason);
        Assert.Contains("disk disk-gone", gone.Message);
        var after = await Assert.ThrowsAsync<PageBlobReplicaException>(() => store.WriteAsync(4096, new byte[512]).AsTask());
        Assert.Equal(PageBlobFailureReason.ContainerNotFound, after.Reason);
    }

    private static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {stderr}");
        return stdout.Result;
    }
}

/// <summary>The same page-blob cases with write coalescing off: one request per write, at once.</summary>
public sealed class PageBlobUncoalescedConformanceTests : PageBlobReplicaStoreConformanceTests
{
    protected override bool Coalesce => false;
}
