using Azure.Core;
using SiteRecovery.Compute.Azure;

namespace SiteRecovery.Compute.Tests.Azure;

/// <summary>
/// The Azure target against <see cref="ArmStandIn"/>, which plays Resource Manager on loopback: what it asks Azure to
/// create for a machine (imported managed disks, a NIC on the failover kind's subnet, a VM of the smallest fitting size
/// with boot diagnostics), how it waits for a boot (the serial log), how it rides out throttling, 5xx and dropped
/// connections without creating anything twice, what a failed provisioning leaves (nothing, after the cleanup), and
/// that a stop removes everything, twice over. Not real Azure: README, "Not tested here".
/// </summary>
public sealed class AzureComputeTargetTests : IAsyncLifetime, IDisposable
{
    const string Subscription = "00000000-0000-0000-0000-00000000beef";
    const string Group = "sr-recovered";
    const string Network = $"/subscriptions/{Subscription}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/dr-vnet";
    const string Account = $"/subscriptions/{Subscription}/resourceGroups/storage/providers/Microsoft.Storage/storageAccounts/srreplicas";
    const string BlobBase = "https://srreplicas.blob.core.windows.net/replicas";

    readonly string _work = Directory.CreateTempSubdirectory("sr-azure-target-").FullName;
    ArmStandIn _arm = null!;
    AzureComputeTarget _target = null!;
    readonly List<string> _log = [];

    sealed class StandInToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => new("stand-in-token", DateTimeOffset.UtcNow.AddHours(1));
        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new(GetToken(requestContext, cancellationToken));
    }

    public async Task InitializeAsync()
    {
        _arm = await ArmStandIn.StartAsync();
        _arm.Sizes.AddRange([("Standard_B2s", 2, 4096), ("Standard_B1s", 1, 1024), ("Standard_A1_v2", 1, 2048), ("Standard_B1ls", 1, 512)]);
        var options = new AzureTargetOptions(Subscription, Group, "westeurope", Account, $"{Network}/subnets/production", $"{Network}/subnets/drill")
        {
            Endpoint = _arm.Endpoint,
            Audience = _arm.Endpoint.AbsoluteUri,
            RetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryDelay = TimeSpan.FromMilliseconds(200),
            BootPollInterval = TimeSpan.FromMilliseconds(50),
        };
        _target = new AzureComputeTarget(options, new StandInToken(), _arm.ClientHandler(), _log.Add);
    }

    public async Task DisposeAsync() => await _arm.DisposeAsync();

    public void Dispose() { try { Directory.Delete(_work, true); } catch (IOException) { } }

    MachineSpec Spec(string name, NetworkMode network, string? address = null, string job = "job-1") =>
        new("vm1", name, 1024, 1, "bios", network, address, Path.Combine(_work, job, "vm1"));

    static DiskSource[] Disks => [new("vm1-boot", $"{BlobBase}/vm1-boot.vhd?snapshot=2026-12-07T09:00:00.0000000Z", 64 << 20), new("vm1-data", $"{BlobBase}/vm1-data.vhd", 32 << 20)];

    [Fact]
    public async Task A_drill_machine_is_imported_disks_a_nic_on_the_isolated_subnet_and_the_smallest_fitting_vm_and_it_boots_when_its_serial_log_says_so()
    {
        var spec = Spec("web01", NetworkMode.Isolated, "10.20.0.11");
        var machine = await _target.StartAsync(spec, Disks, CancellationToken.None);
        var vm = AzureTargetRules.VmName(spec);
        Assert.StartsWith("web01-test-", vm);
        Assert.Equal(vm, machine.InstanceId);
        Assert.Equal("azure Standard_B1s", machine.Accelerator);
        Assert.Equal($"subnet {Network}/subnets/drill", machine.Isolation);

        // Each disk imported from its blob (the boot disk from a snapshot: an older point), in the target's storage account.
        var boot = _arm.Sent("PUT", $"/disks/{vm}-disk0").Single().Body!["properties"]!;
        Assert.Equal("Import", boot["creationData"]!["createOption"]!.GetValue<string>());
        Assert.Equal(Disks[0].Uri, boot["creationData"]!["sourceUri"]!.GetValue<string>());
        Assert.Equal(Account, boot["creationData"]!["storageAccountId"]!.GetValue<string>());
        Assert.Equal("Linux", boot["osType"]!.GetValue<string>());
        Assert.Equal("V1", boot["hyperVGeneration"]!.GetValue<string>());
        var data = _arm.Sent("PUT", $"/disks/{vm}-disk1").Single().Body!;
        Assert.Equal(Disks[1].Uri, data["properties"]!["creationData"]!["sourceUri"]!.GetValue<string>());
        Assert.Null(data["properties"]!["osType"]);
        Assert.Equal("vm1-data", data["tags"]!["siterecovery-disk"]!.GetValue<string>());
        // The NIC on the drill's subnet, with the machine's static address.
        var ip = _arm.Sent("PUT", $"/networkInterfaces/{vm}-nic").Single().Body!["properties"]!["ipConfigurations"]![0]!["properties"]!;
        Assert.Equal($"{Network}/subnets/drill", ip["subnet"]!["id"]!.GetValue<string>());
        Assert.Equal("Static", ip["privateIPAllocationMethod"]!.GetValue<string>());
        Assert.Equal("10.20.0.11", ip["privateIPAddress"]!.GetValue<string>());
        // The VM: the smallest size with 1 core and 1 GiB, the OS disk and the data disk attached, boot diagnostics on.
        var put = _arm.Sent("PUT", $"/virtualMachines/{vm}").Single();
        Assert.Equal("Bearer stand-in-token", put.Authorization);
        var props = put.Body!["properties"]!;
        Assert.Equal("Standard_B1s", props["hardwareProfile"]!["vmSize"]!.GetValue<string>());
        Assert.Equal("Attach", props["storageProfile"]!["osDisk"]!["createOption"]!.GetValue<string>());
        Assert.EndsWith($"/disks/{vm}-disk0", props["storageProfile"]!["osDisk"]!["managedDisk"]!["id"]!.GetValue<string>());
        Assert.EndsWith($"/disks/{vm}-disk1", props["storageProfile"]!["dataDisks"]![0]!["managedDisk"]!["id"]!.GetValue<string>());
        Assert.Equal(0, props["storageProfile"]!["dataDisks"]![0]!["lun"]!.GetValue<int>());
        Assert.EndsWith($"/networkInterfaces/{vm}-nic", props["networkProfile"]!["networkInterfaces"]![0]!["id"]!.GetValue<string>());
        Assert.True(props["diagnosticsProfile"]!["bootDiagnostics"]!["enabled"]!.GetValue<bool>());
        Assert.Equal("vm1", put.Body["tags"]!["siterecovery-machine"]!.GetValue<string>());

        // Nothing on the serial log yet: not booted within a short wait; then the guest's marker arrives.
        var early = await _target.WaitBootedAsync(machine, "SR-BOOTED", TimeSpan.FromMilliseconds(300), CancellationToken.None);
        Assert.False(early.Booted);
        Assert.Contains("no 'SR-BOOTED' on the serial log", early.Failure);
        _arm.SerialLogs[vm] = "SeaBIOS\nSR-GUEST up 6.1\nSR-BOOTED\n";
        var booted = await _target.WaitBootedAsync(machine, "SR-BOOTED", TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.True(booted.Booted, booted.Failure);
        Assert.Contains("SR-BOOTED", await File.ReadAllTextAsync(machine.ConsolePath));
        Assert.True(_target.IsRunning(machine));
    }

    [Fact]
    public async Task A_production_machine_takes_its_failover_name_and_the_production_subnet()
    {
        var machine = await _target.StartAsync(Spec("web01", NetworkMode.Production) with { Cpus = 2, MemoryMiB = 3000, Firmware = "uefi" }, Disks[..1], CancellationToken.None);
        Assert.Equal("web01", machine.InstanceId);
        Assert.Null(machine.Isolation);
        var ip = _arm.Sent("PUT", "/networkInterfaces/web01-nic").Single().Body!["properties"]!["ipConfigurations"]![0]!["properties"]!;
        Assert.Equal($"{Network}/subnets/production", ip["subnet"]!["id"]!.GetValue<string>());
        Assert.Equal("Dynamic", ip["privateIPAllocationMethod"]!.GetValue<string>());
        Assert.Equal("Standard_B2s", _arm.Sent("PUT", "/virtualMachines/web01").Single().Body!["properties"]!["hardwareProfile"]!["vmSize"]!.GetValue<string>());
        Assert.Equal("V2", _arm.Sent("PUT", "/disks/web01-disk0").Single().Body!["properties"]!["hyperVGeneration"]!.GetValue<string>());
    }

    [Fact]
    public async Task Throttling_server_errors_and_a_dropped_connection_are_retried_and_nothing_is_created_twice()
    {
        _arm.Faults.Add(new ArmStandIn.Fault("PUT", "/virtualMachines/", 429, retryAfter: "1", times: 2));
        _arm.Faults.Add(new ArmStandIn.Fault("PUT", "/disks/", 503, times: 1));
        _arm.Faults.Add(new ArmStandIn.Fault("GET", "/operations/", 500, times: 1));
        _arm.DropConnections.Enqueue("/networkInterfaces/");
        var spec = Spec("db01", NetworkMode.Production);
        var machine = await _target.StartAsync(spec, Disks, CancellationToken.None);
        Assert.Equal(3, _arm.Sent("PUT", "/virtualMachines/db01").Count());
        Assert.Equal(2, _arm.Sent("PUT", "/networkInterfaces/db01-nic").Count());
        // One VM, one NIC, two disks: every retried PUT named the same resource.
        Assert.Equal(4, _arm.ResourceIds.Count);
        Assert.All(_arm.ResourceIds, id => Assert.Contains("/db01", id));
        await _target.StopAsync(machine, CancellationToken.None);
        Assert.Empty(_arm.ResourceIds);
    }

    [Fact]
    public async Task A_failed_provisioning_is_named_and_the_cleanup_of_its_work_directory_leaves_nothing()
    {
        var spec = Spec("app01", NetworkMode.Isolated, job: "job-2");
        var vm = AzureTargetRules.VmName(spec);
        _arm.FailProvisioning[vm] = "OSProvisioningTimedOut";
        var e = await Assert.ThrowsAnyAsync<Exception>(() => _target.StartAsync(spec, Disks, CancellationToken.None));
        Assert.Contains("OSProvisioningTimedOut", e.Message);
        Assert.NotEmpty(_arm.ResourceIds);
        // The failed start recorded what it made: the folder alone is enough to remove it all.
        var removed = await _target.StopLeftoverAsync(spec.WorkDirectory, CancellationToken.None);
        Assert.Equal($"removed azure VM {vm}, its NIC and its disks", removed);
        Assert.Empty(_arm.ResourceIds);
        Assert.Null(await _target.StopLeftoverAsync(Path.Combine(_work, "nothing-here"), CancellationToken.None));
    }

    [Fact]
    public async Task A_stop_removes_the_vm_its_nic_and_its_disks_and_a_second_stop_finds_nothing_to_do()
    {
        var machine = await _target.StartAsync(Spec("web02", NetworkMode.Production), Disks, CancellationToken.None);
        Assert.Equal(4, _arm.ResourceIds.Count);
        await _target.StopAsync(machine, CancellationToken.None);
        Assert.Empty(_arm.ResourceIds);
        Assert.False(_target.IsRunning(machine));
        await _target.StopAsync(machine, CancellationToken.None);
        Assert.Empty(_arm.ResourceIds);
    }

    [Fact]
    public async Task A_machine_azure_cannot_run_is_refused_before_anything_is_created()
    {
        var bad = Spec("web_01", NetworkMode.Production) with { Cpus = 8 };
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => _target.StartAsync(bad, [new("vm1-boot", "nbd://127.0.0.1:10809/vm1-boot", 1 << 20)], CancellationToken.None));
        Assert.Contains("Name: 'web_01'", e.Message);
        Assert.Contains("Disks[0] (vm1-boot): 'nbd://127.0.0.1:10809/vm1-boot' must be the https URI of a page blob", e.Message);
        var noSize = await Assert.ThrowsAsync<InvalidOperationException>(() => _target.StartAsync(Spec("big01", NetworkMode.Production) with { Cpus = 8 }, Disks, CancellationToken.None));
        Assert.Contains("no VM size in westeurope has 8 cores and 1024 MiB", noSize.Message);
        Assert.Empty(_arm.Sent("PUT", "/"));
        Assert.Empty(_arm.ResourceIds);
    }
}
