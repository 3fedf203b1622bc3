using System.Security.Cryptography;
using Akka.Configuration;
using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Node;
using SiteRecovery.Tests.Support;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A master target whose replicas are Azure page blobs on Azurite (chosen the way a node chooses them, from datapath
/// HOCON with the account in a private file): an agent's writes through NBD replicate, recover at a bookmark and at the
/// latest point byte for byte, and the blob holds the disk followed by its VHD footer.
/// </summary>
public sealed class AzureReplicaEndToEndTests
{
    const long Size = 16L << 20;
    const string AccountKey = AzuriteEmulator.AccountKey;

    /// <summary>datapath HOCON choosing page blobs in <paramref name="container"/>, the account in <paramref name="accountFile"/>.</summary>
    static Config PageBlobs(string accountFile, string container, string more = "") => ConfigurationFactory.ParseString(
            $"siterecovery.data-path.master-target {{ replica-store = azure-page-blob, azure-page-blob {{ connection-file = \"{accountFile}\", container = {container} {more} }} }}")
        .WithFallback(DataPathSettings.Load(null));

    static BlobContainerClient Container(string name) => new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(name);

    [Fact]
    public async Task A_master_target_on_page_blobs_replicates_and_recovers_byte_for_byte()
    {
        AzuriteEmulator.RequireRunning();
        var container = AzuriteEmulator.NewContainer("e2e");
        var secrets = Tools.TempDirectory("azure-account");
        var accountFile = AzuriteEmulator.WriteAccountFile(secrets);
        var config = PageBlobs(accountFile, container);
        var described = new List<string>();
        var blobs = Container(container);
        try
        {
            await using var site = await Site.StartAsync("azure-e2e", 1, Size, configure: s =>
                s.WrapReplicas = _ => ReplicaStores.Create(config, Path.Combine(s.Root, "mt"), "mt-1", new Dictionary<string, string>(), described.Add));
            Assert.Contains(described, d => d.Contains(container) && d.Contains(accountFile) && !d.Contains(AccountKey));

            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xab 0 1M\" -c \"write -P 0xcd 513k 61k\" -c \"write -z 2M 1M\" -c \"write -P 0x11 14M 2M\"", TimeSpan.FromMinutes(2));
            var bm = await site.Target.BookmarkAsync("bm-1", ["disk1"], TimeSpan.FromSeconds(60), default);
            Assert.Null(bm.Error);
            File.Copy(site.DiskPaths[0], site.DiskPaths[0] + ".at-bm1");
            var atBookmark = Tools.Sha256(site.DiskPaths[0] + ".at-bm1");

            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0xee 100k 3M\" -c \"discard 8M 1M\"", TimeSpan.FromMinutes(2));
            await site.CatchUpAsync(TimeSpan.FromSeconds(60));

            var atPoint = Path.Combine(site.Root, "disk1.bm1");
            await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], atPoint, null, default);
            Assert.Equal(atBookmark, Tools.Sha256(atPoint));
            var latest = Path.Combine(site.Root, "disk1.latest");
            await site.Target.RecoverAsync("disk1", site.Target.Disks["disk1"].AppliedThrough, latest, null, default);
            Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(latest));

            // The replica itself is the page blob: the disk's bytes, then a fixed-VHD footer of its size.
            var blob = await BlobCatchesUp(blobs, site.DiskPaths[0]);
            Assert.Equal(Size, VhdFooter.Parse(blob.AsSpan((int)Size)).CurrentSize);
        }
        finally
        {
            await blobs.DeleteIfExistsAsync();
            Directory.Delete(secrets, recursive: true);
        }
    }

    [Fact]
    public void Bad_replica_store_settings_stop_start_up_with_the_key_named()
    {
        var shipped = DataPathSettings.Load(null);
        Config With(string hocon) => ConfigurationFactory.ParseString("siterecovery.data-path.master-target { " + hocon + " }").WithFallback(shipped);
        var none = new Dictionary<string, string>();
        var variable = "SR_TEST_ACCOUNT_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, AzuriteEmulator.ConnectionString());
        try
        {
            Assert.IsType<SiteRecovery.Journal.Replicas.Local.LocalFileReplicaStoreFactory>(ReplicaStores.Create(shipped, "/nonexistent/mt", "mt", none));
            Assert.IsType<PageBlobReplicaStoreFactory>(ReplicaStores.Create(With($"replica-store = azure-page-blob, azure-page-blob.connection-env = {variable}"), "/nonexistent/mt", "mt", none));
            foreach (var (hocon, files, want) in new[]
                     {
                         ("replica-store = s3", none, "siterecovery.data-path.master-target.replica-store = 's3': expected local or azure-page-blob"),
                         ("replica-store = azure-page-blob", none, "siterecovery.data-path.master-target.azure-page-blob: give exactly one of connection-file and connection-env"),
                         ($"replica-store = azure-page-blob, azure-page-blob {{ connection-env = {variable}, connection-file = /x }}", none, "give exactly one of connection-file and connection-env"),
                         ("replica-store = azure-page-blob, azure-page-blob.connection-env = SR_TEST_UNSET_VARIABLE_H28", none, "environment variable $SR_TEST_UNSET_VARIABLE_H28 is not set"),
                         ($"replica-store = azure-page-blob, azure-page-blob {{ connection-env = {variable}, container = Bad_Name }}", none, "container 'Bad_Name'"),
                         ($"replica-store = azure-page-blob, azure-page-blob {{ connection-env = {variable}, lease-duration = 5s }}", none, "lease-duration = 5s"),
                         ($"replica-store = azure-page-blob, azure-page-blob {{ connection-env = {variable}, max-upload-bytes = 8MiB }}", none, "siterecovery.data-path.master-target.azure-page-blob.max-upload-bytes"),
                         ($"replica-store = azure-page-blob, azure-page-blob.connection-env = {variable}", new Dictionary<string, string> { ["d"] = "/f" }, "--replica-file adopts a local file"),
                     })
            {
                var e = Assert.Throws<ArgumentException>(() => ReplicaStores.Create(With(hocon), "/nonexistent/mt", "mt", files));
                Assert.Contains(want, e.Message);
                Assert.DoesNotContain(AccountKey, e.Message);
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    /// <summary>
    /// Azurite answering 503 past the retry policy stops the disk at the master target with a named reason and an alert,
    /// nothing past it is acknowledged (the process server keeps its spool), and once Azurite answers again the disk
    /// reopens from its journal by itself (after the old lease, which could not be released, runs out): then a recovery
    /// equals the source byte for byte.
    /// </summary>
    [Fact]
    public async Task Azurite_unavailable_past_the_retries_stops_the_disk_by_name_and_it_resumes_losing_nothing()
    {
        AzuriteEmulator.RequireRunning();
        var container = AzuriteEmulator.NewContainer("e2e-fault");
        var secrets = Tools.TempDirectory("azure-account");
        await using var proxy = FaultProxy.Start(AzuriteEmulator.Port);
        var config = PageBlobs(AzuriteEmulator.WriteAccountFile(secrets, proxy.Port), container,
            ", lease-duration = 15s, lease-renew-interval = 5s, retry { max-retries = 2, delay = 100ms, max-delay = 200ms, network-timeout = 5s }");
        var events = new RecordingEvents();
        try
        {
            await using var site = await Site.StartAsync("azure-fault", 1, Size, configure: s =>
            {
                s.Events = events;
                s.WrapReplicas = _ => ReplicaStores.Create(config, Path.Combine(s.Root, "mt"), "mt-1", new Dictionary<string, string>());
            });
            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x21 0 2M\"", TimeSpan.FromMinutes(2));
            await site.CatchUpAsync(TimeSpan.FromSeconds(60));

            proxy.Set(FaultProxy.Mode.Answer503);
            await ExternalTool.RunOkAsync("qemu-io", $"-f raw {site.NbdUri("disk1")} -c \"write -P 0x42 1M 3M\" -c \"write -P 0x43 9M 1M\"", TimeSpan.FromMinutes(2));
            await Until(() => events.Stops.Contains(("disk1", SiteRecovery.Contracts.Wire.DiskStopReason.ReplicaWriteFailed)), "the stop of disk1 (ReplicaWriteFailed)", site);
            lock (site.Log) Assert.Contains(site.Log, l => l.Contains("disk disk1: replication stopped after #") && l.Contains("Unavailable") && l.Contains("HTTP 503"));
            var export = site.Agent.Exports[0];
            Assert.True(export.Stream.AckedThrough < export.Stream.LastSequence || site.Process.Disks["disk1"].TargetAcked < site.Process.Disks["disk1"].Durable,
                "nothing waited: the writes after the fault were acknowledged through the master target");
            Assert.True(proxy.Answered503 > 0);

            proxy.Set(FaultProxy.Mode.Pass);
            await Until(() => events.Stops.LastOrDefault() == ("disk1", null), "the resume of disk1", site, seconds: 90);
            await site.CatchUpAsync(TimeSpan.FromSeconds(90));
            var bm = await site.Target.BookmarkAsync("after-503", ["disk1"], TimeSpan.FromSeconds(30), default);
            Assert.Null(bm.Error);
            var output = Path.Combine(site.Root, "after.img");
            await site.Target.RecoverAsync("disk1", bm.Sequences["disk1"], output, null, default);
            Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Tools.Sha256(output));
            await BlobCatchesUp(Container(container), site.DiskPaths[0]);
        }
        finally
        {
            await Container(container).DeleteIfExistsAsync();
            Directory.Delete(secrets, recursive: true);
        }
    }

    /// <summary>
    /// The page blob of disk1 once it holds the source disk's bytes (then its footer). The master target uploads coalesced
    /// writes when it flushes the replica (at most every replica-flush-interval, an idle disk at its retention pass), so the
    /// blob may trail the latest write by that long; never by more.
    /// </summary>
    internal static async Task<byte[]> BlobCatchesUp(BlobContainerClient blobs, string sourcePath, int seconds = 30)
    {
        var want = Tools.Sha256(sourcePath);
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var blob = (await blobs.GetBlobClient("disk1.vhd").DownloadContentAsync()).Value.Content.ToArray();
            Assert.Equal(Size + 512, blob.Length);
            var got = Convert.ToHexString(SHA256.HashData(blob.AsSpan(0, (int)Size)));
            if (got == want) return blob;
            Assert.True(DateTime.UtcNow < deadline, $"the page blob's disk bytes: got sha256 {got}, want the source's {want} (waited {seconds} s for the replica flush)");
            await Task.Delay(250);
        }
    }

    static async Task Until(Func<bool> condition, string what, Site site, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                lock (site.Log) throw new TimeoutException($"waited {seconds} s for {what}\n" + string.Join("\n", site.Log.TakeLast(30)));
            await Task.Delay(50);
        }
    }
}
