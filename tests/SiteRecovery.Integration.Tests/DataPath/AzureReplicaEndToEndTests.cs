using System.Net.Sockets;
using System.Security.Cryptography;
using Akka.Configuration;
using Azure.Storage.Blobs;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Node;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A master target whose replicas are Azure page blobs on Azurite (chosen the way a node chooses them, from datapath
/// HOCON with the account in a private file): an agent's writes through NBD replicate, recover at a bookmark and at the
/// latest point byte for byte, and the blob holds the disk followed by its VHD footer.
/// </summary>
public sealed class AzureReplicaEndToEndTests
{
    const long Size = 16L << 20;
    // Azurite's fixed development account, published by Microsoft for the emulator: not a secret.
    const string Endpoint = "http://127.0.0.1:10000/devstoreaccount1";
    const string AccountName = "devstoreaccount1";
    const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    [Fact]
    public async Task A_master_target_on_page_blobs_replicates_and_recovers_byte_for_byte()
    {
        try { using var probe = new TcpClient("127.0.0.1", 10000); }
        catch (SocketException e) { throw new InvalidOperationException("Azurite is not answering on 127.0.0.1:10000: run tests/setup.sh", e); }
        var container = $"sr-e2e-{Guid.NewGuid():N}";
        var secrets = Tools.TempDirectory("azure-account");
        var accountFile = Path.Combine(secrets, "account.conf");
        File.WriteAllText(accountFile, $"endpoint = {Endpoint}\naccount-name = {AccountName}\naccount-key = {AccountKey}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(accountFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var config = ConfigurationFactory.ParseString(
            $"siterecovery.data-path.master-target {{ replica-store = azure-page-blob, azure-page-blob {{ connection-file = \"{accountFile}\", container = {container} }} }}")
            .WithFallback(DataPathSettings.Load(null));
        var described = new List<string>();
        var blobs = new BlobServiceClient($"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={Endpoint};").GetBlobContainerClient(container);
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
            var blob = (await blobs.GetBlobClient("disk1.vhd").DownloadContentAsync()).Value.Content.ToArray();
            Assert.Equal(Size + 512, blob.Length);
            Assert.Equal(Tools.Sha256(site.DiskPaths[0]), Convert.ToHexString(SHA256.HashData(blob.AsSpan(0, (int)Size))));
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
        Environment.SetEnvironmentVariable(variable, $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={Endpoint};");
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
}
