using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Azure.Storage;
using Azure.Storage.Blobs;
using SiteRecovery.Contracts.Processes;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Compute;
using SiteRecovery.Compute.Azure;
using SiteRecovery.Compute.Tests.Azure;

namespace SiteRecovery.Chaos.Tests;

/// <summary>
/// A test failover to Azure from a real srnode whose master target keeps its replicas as page blobs on Azurite with a
/// snapshot per recovery point, and a real sragent: the node's azure target (configured in its HOCON, its token in a
/// private file) asks Resource Manager — <see cref="ArmStandIn"/> on loopback, the only part played — for a managed
/// disk imported from the point's snapshot, a NIC and a VM, waits for the VM's serial log, and the cleanup removes it
/// all. The snapshot the import names is downloaded from Azurite and compared with the source disk. Then what is refused
/// before anything starts: a point without a snapshot, a target the node does not have. Never real Azure.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AzureFailoverTests
{
    const long DiskBytes = 16L << 20;
    const string Subscription = "00000000-0000-0000-0000-00000000beef";
    const string Network = $"/subscriptions/{Subscription}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/dr-vnet";
    const string Account = $"/subscriptions/{Subscription}/resourceGroups/storage/providers/Microsoft.Storage/storageAccounts/{AzuriteEmulator.AccountName}";

    sealed record Site(Node Node, Agent Agent, ArmStandIn Arm, string Container, string DiskPath) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Agent.Dispose();
            Node.Dispose();
            await Arm.DisposeAsync();
            await new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(Container).DeleteIfExistsAsync();
        }
    }

    /// <summary>
    /// A node (page-blob replicas on Azurite, <paramref name="snapshotPoints"/>, the azure target on a fresh stand-in) and
    /// an agent with one disk <c>vm1-boot</c> whose initial sync is done; machine vm1 fails over to <paramref name="target"/>.
    /// </summary>
    static async Task<Site> StartAsync(TempDir dir, bool snapshotPoints, string target)
    {
        AzuriteEmulator.RequireRunning();
        var arm = await ArmStandIn.StartAsync();
        arm.Sizes.AddRange([("Standard_B2s", 2, 4096), ("Standard_B1s", 1, 1024)]);
        // What a guest that boots writes on its serial port: the node's boot wait reads it through boot diagnostics.
        arm.BootLog = "SeaBIOS\nSR-GUEST up\nSR-BOOTED\n";
        var container = AzuriteEmulator.NewContainer("azfo");
        var pem = dir["arm.pem"];
        await File.WriteAllTextAsync(pem, arm.Certificate.ExportCertificatePem());
        var token = dir["arm.token"];
        await File.WriteAllTextAsync(token, "stand-in-token\n");
        File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var scripts = dir["scripts"];
        Directory.CreateDirectory(scripts);
        File.SetUnixFileMode(scripts, (UnixFileMode)0b111_101_101);
        var conf = dir["node.conf"];
        await File.WriteAllTextAsync(conf, $$"""
            siterecovery.data-path.master-target {
              replica-store = azure-page-blob
              azure-page-blob { connection-file = "{{AzuriteEmulator.WriteAccountFile(dir.Path)}}", container = {{container}}, lease-duration = 15s, lease-renew-interval = 5s, snapshot-points = {{(snapshotPoints ? "on" : "off")}} }
            }
            siterecovery.failover {
              scripts-directory = "{{scripts}}"
              boot-timeout = 120s
              azure-target {
                subscription-id = "{{Subscription}}"
                resource-group = sr-recovered
                location = westeurope
                storage-account-id = "{{Account}}"
                storage-blob-endpoint = "{{AzuriteEmulator.Endpoint()}}/"
                production-subnet-id = "{{Network}}/subnets/production"
                isolated-subnet-id = "{{Network}}/subnets/drill"
                token-file = "{{token}}"
                endpoint = "{{arm.Endpoint.AbsoluteUri}}"
                trusted-certificate-file = "{{pem}}"
                retry { delay = 50ms, max-delay = 200ms }
                boot-poll-interval = 200ms
              }
            }
            """);
        var node = new Node("azfo", "all", dir["n"], dir.Path, null, "--config", conf);
        await node.StartAsync();
        var path = dir["vm1-boot.img"];
        await using (var f = new FileStream(path, FileMode.Create)) f.SetLength(DiskBytes);
        var agent = new Agent("vm1", new Dictionary<string, string> { ["vm1-boot"] = path }, node.PsAddress, dir["agent-vm1"], dir.Path);
        await agent.StartAsync();
        // A point inside the initial sync is no point (and gets no snapshot): the known pattern is written after it.
        await agent.Process!.WaitForLineAsync(l => l.Contains("\"resync-complete\"", StringComparison.Ordinal), TimeSpan.FromMinutes(2), "the initial sync's end");
        var discovered = await node.Api.PostAsync("api/machines", new
        {
            machineId = "vm1",
            properties = new
            {
                name = "vm1", os = "Linux", disks = new[] { new { diskId = "vm1-boot", sizeBytes = DiskBytes } }, bootType = "Bios", clustered = false,
                hasBitLockerVolumes = false, failoverName = "web01", failoverVmSize = "Standard_B1s", failoverNetwork = "dr-vnet", target,
            },
        });
        Assert.True(discovered.Status == HttpStatusCode.OK, discovered.Text);
        Assert.True((await node.Api.PostAsync("api/vaults", new { name = "dr", region = "WestEurope" })).Status == HttpStatusCode.OK);
        var plan = await node.Api.PostAsync("api/recovery-plans", new { planId = "web", vault = "dr", groups = new[] { new { machines = new[] { "vm1" } } } });
        Assert.True(plan.Status == HttpStatusCode.OK, plan.Text);
        return new Site(node, agent, arm, container, path);
    }

    static async Task WriteAsync(Agent agent, params string[] commands) =>
        await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", agent.Uri("vm1-boot"), .. commands.SelectMany(c => new[] { "-c", c })], TimeSpan.FromMinutes(1));

    static BlobClient Blob(Uri uri) => new(uri, new StorageSharedKeyCredential(AzuriteEmulator.AccountName, AzuriteEmulator.AccountKey));

    static async Task<string> Sha256Async(BlobClient blob)
    {
        using var sha = SHA256.Create();
        await using var content = await blob.OpenReadAsync();
        return Convert.ToHexStringLower(await sha.ComputeHashAsync(content));
    }

    [Fact]
    public async Task A_test_failover_imports_the_points_snapshot_into_an_azure_vm_that_boots_and_its_cleanup_removes_it_all_leaving_the_replica_as_it_was()
    {
        using var dir = new TempDir("azure-failover");
        await using var site = await StartAsync(dir, snapshotPoints: true, target: "azure");
        var (node, agent, arm) = (site.Node, site.Agent, site.Arm);
        // A known pattern, unaligned edges included, then the point; a write after it must not be in the VM's disk.
        await WriteAsync(agent, "write -P 0x5a 0 4M", "write -P 0xc3 5243393 70001", "write -P 0x17 15M 1M");
        await node.BookmarkAsync("before-drill", ["vm1-boot"], TimeSpan.FromSeconds(60));
        var atPoint = await File.ReadAllBytesAsync(site.DiskPath);
        await WriteAsync(agent, "write -P 0xee 0 64k");
        var after = await node.BookmarkAsync("after-write", ["vm1-boot"], TimeSpan.FromSeconds(60));
        var replica = new BlobServiceClient(AzuriteEmulator.ConnectionString()).GetBlobContainerClient(site.Container).GetBlobClient("vm1-boot.vhd");
        var replicaBefore = await Sha256Async(replica);

        var start = await node.Api.PostAsync("api/failovers", new { plan = "web", kind = "test", point = "before-drill" });
        Assert.True(start.Status == HttpStatusCode.Accepted, start.Text);
        var job = start.Body!["jobId"]!.GetValue<string>();
        var done = await FailoverTests.UntilAsync(node, job, j => FailoverTests.Status(j) is "Completed" or "StepFailed" or "WaitingForOperator", TimeSpan.FromMinutes(4));
        Assert.True(FailoverTests.Status(done) == "Completed", done.ToJsonString());

        // The VM: the failover name with a drill's suffix, the failover size, on the isolated subnet.
        var vm = AzureTargetRules.VmName(new MachineSpec("vm1", "web01", 1024, 1, "bios", NetworkMode.Isolated, null, Path.Combine(node.DataDir, "failover", job, "vm1")));
        Assert.StartsWith("web01-test-", vm);
        var machine = done["machines"]!.AsArray().Single()!;
        Assert.Equal("azure", machine["target"]!.GetValue<string>());
        Assert.Equal(vm, machine["instanceId"]!.GetValue<string>());
        var put = arm.Sent("PUT", $"/virtualMachines/{vm}").Single().Body!["properties"]!;
        Assert.Equal("Standard_B1s", put["hardwareProfile"]!["vmSize"]!.GetValue<string>());
        Assert.True(put["diagnosticsProfile"]!["bootDiagnostics"]!["enabled"]!.GetValue<bool>());
        Assert.Equal($"{Network}/subnets/drill",
            arm.Sent("PUT", $"/networkInterfaces/{vm}-nic").Single().Body!["properties"]!["ipConfigurations"]![0]!["properties"]!["subnet"]!["id"]!.GetValue<string>());
        // Its disk: imported from the point's snapshot of the replica blob, never the blob itself.
        var creation = arm.Sent("PUT", $"/disks/{vm}-disk0").Single().Body!["properties"]!["creationData"]!;
        Assert.Equal("Import", creation["createOption"]!.GetValue<string>());
        Assert.Equal(Account, creation["storageAccountId"]!.GetValue<string>());
        var source = new Uri(creation["sourceUri"]!.GetValue<string>());
        Assert.Equal(replica.Uri.AbsolutePath, source.AbsolutePath);
        Assert.Matches("^\\?snapshot=[^&]+$", source.Query);
        Assert.Equal(source.AbsoluteUri, machine["disks"]![0]!["uri"]!.GetValue<string>());

        // The snapshot is the source disk at the point, byte for byte, then a fixed-VHD footer qemu-img reads.
        var downloaded = dir["snapshot.vhd"];
        await Blob(source).DownloadToAsync(downloaded);
        var bytes = await File.ReadAllBytesAsync(downloaded);
        Assert.True(bytes.Length == DiskBytes + 512, $"the snapshot is {bytes.Length} bytes, want the disk's {DiskBytes} and a 512-byte footer");
        var same = bytes.AsSpan(0, (int)DiskBytes).CommonPrefixLength(atPoint);
        if (same != DiskBytes) Assert.Fail($"the snapshot differs from the source at the point first at byte {same}: got 0x{bytes[same]:x2}, want 0x{atPoint[same]:x2}");
        var info = JsonNode.Parse((await ExternalTool.RunOkAsync("qemu-img", ["info", "--output=json", "-f", "vpc", downloaded], TimeSpan.FromMinutes(1))).StdOut)!;
        Assert.Equal(DiskBytes, info["virtual-size"]!.GetValue<long>());

        // The boot was read from the VM's serial log (boot diagnostics), kept as the machine's console.
        var console = await node.Api.GetAsync($"api/failovers/{job}/machines/vm1/console?lines=20");
        Assert.Contains("SR-BOOTED", console.Text);
        var boot = done["boots"]!.AsArray().Single()!;
        Assert.True(boot["booted"]!.GetValue<bool>(), boot.ToJsonString());
        Assert.Contains("SR-BOOTED", boot["consoleTail"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.StartsWith("1 machine(s) booted: vm1", done["steps"]![1]!["output"]!.GetValue<string>());
        // The drill's own checks of the point on the node's two paths agree with the source at the point too.
        var drill = done["report"]!["machines"]!.AsArray().Single()!;
        Assert.True(drill["passed"]!.GetValue<bool>(), drill.ToJsonString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(atPoint)), drill["disks"]![0]!["bootedSha256"]!.GetValue<string>());
        Assert.Equal("azure Standard_B1s", drill["accelerator"]!.GetValue<string>());

        var cleanup = await node.Api.PostAsync($"api/failovers/{job}/cleanup", new { reason = "drill over" });
        Assert.True(cleanup.Status == HttpStatusCode.OK, cleanup.Text);
        var clean = await FailoverTests.UntilAsync(node, job, j => FailoverTests.Status(j) == "CleanedUp", TimeSpan.FromMinutes(2));
        Assert.Empty(arm.ResourceIds);
        Assert.Single(arm.Sent("DELETE", $"/virtualMachines/{vm}"));
        Assert.NotEmpty(arm.Sent("DELETE", $"/networkInterfaces/{vm}-nic"));
        Assert.NotEmpty(arm.Sent("DELETE", $"/disks/{vm}-disk0"));
        Assert.Contains(clean["history"]!.AsArray(), h => h!.GetValue<string>().Contains($"machine vm1 removed (azure VM {vm}", StringComparison.Ordinal));
        // Nothing touched the replica: its bytes are what they were before the drill, and replication goes on.
        Assert.Equal(replicaBefore, await Sha256Async(replica));
        Assert.True(await node.BookmarkAsync("after-drill", ["vm1-boot"], TimeSpan.FromSeconds(60)) > after);
    }

    [Fact]
    public async Task A_point_without_a_snapshot_and_a_target_the_node_does_not_have_are_refused_naming_them_before_anything_starts()
    {
        using var dir = new TempDir("azure-failover-refused");
        await using var site = await StartAsync(dir, snapshotPoints: false, target: "azure");
        var (node, agent, arm) = (site.Node, site.Agent, site.Arm);
        await WriteAsync(agent, "write -P 0x5a 0 1M");
        var seq = await node.BookmarkAsync("unsnapshotted", ["vm1-boot"], TimeSpan.FromSeconds(60));

        var noSnapshot = await node.Api.PostAsync("api/failovers", new { plan = "web", kind = "test", point = "unsnapshotted" });
        Assert.Equal(HttpStatusCode.BadRequest, noSnapshot.Status);
        Assert.Contains($"disk vm1-boot has no page-blob snapshot of point 'unsnapshotted' (#{seq})", noSnapshot.Error);
        Assert.Contains("snapshot-points is off", noSnapshot.Error);

        var changed = await node.Api.PostAsync("api/machines", new
        {
            machineId = "vm1",
            properties = new
            {
                name = "vm1", os = "Linux", disks = new[] { new { diskId = "vm1-boot", sizeBytes = DiskBytes } }, bootType = "Bios", clustered = false,
                hasBitLockerVolumes = false, failoverName = "web01", failoverVmSize = "Standard_B1s", failoverNetwork = "dr-vnet", target = "gcp",
            },
        });
        Assert.True(changed.Status == HttpStatusCode.OK, changed.Text);
        var unknown = await node.Api.PostAsync("api/failovers", new { plan = "web", kind = "test", point = "unsnapshotted" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.Status);
        Assert.Contains("machine vm1: compute target 'gcp' is unknown (this node has: local, azure)", unknown.Error);

        // Nothing started: no job, nothing asked of Resource Manager.
        Assert.Empty((await node.Api.GetAsync("api/failovers")).Body!.AsArray());
        Assert.Empty(arm.Sent("PUT", "/"));
    }

    [Fact]
    public async Task A_half_configured_azure_target_or_a_token_file_others_can_read_stops_the_node_at_start_naming_it()
    {
        using var dir = new TempDir("azure-target-settings");
        var token = dir["arm.token"];
        await File.WriteAllTextAsync(token, "eyJ0eXAi.never-shown\n");
        File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        async Task<string> RefusedAsync(string name, string azureTarget)
        {
            var conf = dir[$"{name}.conf"];
            await File.WriteAllTextAsync(conf, $"siterecovery.failover.azure-target {{ {azureTarget} }}\n");
            using var node = new Node(name, "all", dir[name], dir.Path, null, "--config", conf);
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => node.StartAsync());
            Assert.Contains("exited with", e.Message);
            Assert.DoesNotContain("never-shown", e.Message);
            return e.Message;
        }
        var missing = await RefusedAsync("half", $"subscription-id = \"{Subscription}\", location = westeurope");
        Assert.Contains("siterecovery.failover.azure-target.storage-account-id must be set when siterecovery.failover.azure-target.subscription-id is", missing);
        var open = await RefusedAsync("open", $"subscription-id = \"{Subscription}\", resource-group = rg, location = westeurope, storage-account-id = \"{Account}\", " +
            $"production-subnet-id = \"{Network}/subnets/production\", isolated-subnet-id = \"{Network}/subnets/drill\", token-file = \"{token}\"");
        Assert.Contains($"siterecovery.failover.azure-target: token file '{token}' is readable or writable by others (chmod 600 it)", open);
    }
}
