using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.ResourceManager;
using Azure.ResourceManager.Compute;
using Azure.ResourceManager.Compute.Models;
using Azure.ResourceManager.Resources;

namespace SiteRecovery.Compute.Azure;

/// <summary>
/// Recovered machines as Azure VMs, through Azure Resource Manager: each disk a managed disk imported from its replica's
/// page blob (or a snapshot of it, for an older point: the replica itself is never attached, so a test failover leaves it
/// as it was), a NIC on the subnet of the failover's kind, and a VM of the smallest size of the region that has the
/// machine's cores and memory, with boot diagnostics on: its serial log is the console a boot wait reads. Everything it
/// creates is named from the machine (see <see cref="AzureTargetRules"/>) and tagged with the machine and its work
/// directory, and a stop removes all of it.
/// Not run against real Azure: tested against a stand-in of Resource Manager on loopback (README, "Not tested here").
/// </summary>
public sealed class AzureComputeTarget : IComputeTarget
{
    public const string TargetName = "azure";

    /// <summary>The file in a machine's work directory that names what a start there created (<see cref="StopLeftoverAsync"/> reads it).</summary>
    public const string MachineFileName = "azure-machine";

    const string MachineTag = "siterecovery-machine";
    const string WorkTag = "siterecovery-work";

    readonly AzureTargetOptions _options;
    readonly ArmClient _arm;
    readonly HttpClient _logs;
    readonly Action<string> _log;
    IReadOnlyList<AzureVmSize>? _sizes;

    /// <param name="transport">How requests reach Resource Manager and the boot diagnostics blobs (null: the default HTTP stack).</param>
    public AzureComputeTarget(AzureTargetOptions options, TokenCredential credential, HttpMessageHandler? transport = null, Action<string>? log = null)
    {
        _options = options;
        _log = log ?? (_ => { });
        var arm = new ArmClientOptions { Environment = new ArmEnvironment(options.Endpoint, options.Audience) };
        arm.Retry.MaxRetries = options.MaxRetries;
        arm.Retry.Delay = options.RetryDelay;
        arm.Retry.MaxDelay = options.MaxRetryDelay;
        arm.Retry.Mode = RetryMode.Exponential;
        arm.SetApiVersion(new ResourceType("Microsoft.Network/networkInterfaces"), options.NetworkApiVersion);
        _logs = transport is null ? new HttpClient() : new HttpClient(transport, disposeHandler: false);
        if (transport is not null) arm.Transport = new HttpClientTransport(new HttpClient(transport, disposeHandler: false));
        _arm = new ArmClient(credential, options.SubscriptionId, arm);
    }

    public string Name => TargetName;

    public IReadOnlyList<string> Validate(MachineSpec spec) => AzureTargetRules.Validate(spec, _options);

    ResourceGroupResource Group => _arm.GetResourceGroupResource(ResourceGroupResource.CreateResourceIdentifier(_options.SubscriptionId, _options.ResourceGroup));

    ResourceIdentifier NicId(string vm) => new($"{Group.Id}/providers/Microsoft.Network/networkInterfaces/{AzureTargetRules.NicName(vm)}");

    async Task<IReadOnlyList<AzureVmSize>> SizesAsync(CancellationToken ct)
    {
        if (_sizes is { } known) return known;
        var subscription = _arm.GetSubscriptionResource(SubscriptionResource.CreateResourceIdentifier(_options.SubscriptionId));
        var sizes = new List<AzureVmSize>();
        await foreach (var s in subscription.GetVirtualMachineSizesAsync(new AzureLocation(_options.Location), ct))
            if (s.Name is { } name && s.NumberOfCores is { } cores && s.MemoryInMB is { } memory) sizes.Add(new AzureVmSize(name, cores, memory));
        return _sizes = sizes;
    }

    public async Task<MachineHandle> StartAsync(MachineSpec spec, IReadOnlyList<DiskSource> disks, CancellationToken ct)
    {
        var problems = Validate(spec).Concat(disks.Select((d, i) => AzureTargetRules.ImportSourceProblem(d.Uri, _options.BlobEndpoint) is { } p ? $"Disks[{i}] ({d.DiskId}): '{d.Uri}' {p}" : null).OfType<string>()).ToList();
        if (disks.Count == 0) problems.Add("Disks: a machine needs at least its OS disk");
        if (problems.Count > 0) throw new InvalidOperationException($"machine {spec.MachineId} cannot run on the azure target: {string.Join("; ", problems)}");
        var vm = AzureTargetRules.VmName(spec);
        var (size, sizeError) = AzureTargetRules.ChooseSize(await SizesAsync(ct), spec.VmSize, spec.Cpus, spec.MemoryMiB, _options.Location);
        if (size is null) throw new InvalidOperationException($"machine {spec.MachineId}: {sizeError}");
        // Named before anything is created: a node killed from here on leaves resources only this file finds.
        Directory.CreateDirectory(spec.WorkDirectory);
        await File.WriteAllTextAsync(Path.Combine(spec.WorkDirectory, MachineFileName), $"{vm} {disks.Count}", ct);
        var tags = new Dictionary<string, string> { [MachineTag] = spec.MachineId, [WorkTag] = Path.GetFileName(Path.GetFullPath(spec.WorkDirectory)) };
        var location = new AzureLocation(_options.Location);
        var generation = spec.Firmware == "uefi" ? HyperVGeneration.V2 : HyperVGeneration.V1;

        var diskIds = new List<ResourceIdentifier>();
        for (var i = 0; i < disks.Count; i++)
        {
            var data = new ManagedDiskData(location)
            {
                CreationData = new DiskCreationData(DiskCreateOption.Import) { SourceUri = new Uri(disks[i].Uri), StorageAccountId = new ResourceIdentifier(_options.StorageAccountId) },
                HyperVGeneration = generation,
                OSType = i == 0 ? SupportedOperatingSystemType.Linux : null,
            };
            foreach (var (k, v) in tags) data.Tags[k] = v;
            data.Tags["siterecovery-disk"] = disks[i].DiskId;
            var made = await Group.GetManagedDisks().CreateOrUpdateAsync(WaitUntil.Completed, AzureTargetRules.DiskName(vm, i), data, ct);
            diskIds.Add(made.Value.Id);
        }

        var subnet = spec.Network == NetworkMode.Isolated ? _options.IsolatedSubnetId : _options.ProductionSubnetId;
        var nic = new GenericResourceData(location)
        {
            Properties = BinaryData.FromObjectAsJson(new
            {
                ipConfigurations = new[]
                {
                    new
                    {
                        name = "primary",
                        properties = new
                        {
                            subnet = new { id = subnet },
                            privateIPAllocationMethod = spec.StaticAddress is null ? "Dynamic" : "Static",
                            privateIPAddress = spec.StaticAddress,
                        },
                    },
                },
            }),
        };
        foreach (var (k, v) in tags) nic.Tags[k] = v;
        await _arm.GetGenericResources().CreateOrUpdateAsync(WaitUntil.Completed, NicId(vm), nic, ct);

        var machine = new VirtualMachineData(location)
        {
            HardwareProfile = new VirtualMachineHardwareProfile { VmSize = new VirtualMachineSizeType(size.Name) },
            StorageProfile = new VirtualMachineStorageProfile
            {
                OSDisk = new VirtualMachineOSDisk(DiskCreateOptionType.Attach)
                {
                    OSType = SupportedOperatingSystemType.Linux,
                    ManagedDisk = new VirtualMachineManagedDisk { Id = diskIds[0] },
                },
            },
            BootDiagnostics = new BootDiagnostics { Enabled = true },
        };
        for (var i = 1; i < diskIds.Count; i++)
            machine.StorageProfile.DataDisks.Add(new VirtualMachineDataDisk(i - 1, DiskCreateOptionType.Attach) { ManagedDisk = new VirtualMachineManagedDisk { Id = diskIds[i] } });
        machine.NetworkProfile = new VirtualMachineNetworkProfile();
        machine.NetworkProfile.NetworkInterfaces.Add(new VirtualMachineNetworkInterfaceReference { Id = NicId(vm), Primary = true });
        foreach (var (k, v) in tags) machine.Tags[k] = v;
        await Group.GetVirtualMachines().CreateOrUpdateAsync(WaitUntil.Completed, vm, machine, ct);
        _log($"azure: {vm} ({size.Name}) created from {disks.Count} imported disk(s) on {(spec.Network == NetworkMode.Isolated ? "the isolated" : "the production")} subnet");
        return new MachineHandle(TargetName, spec.MachineId, vm, 0, Path.Combine(spec.WorkDirectory, _options.ConsoleFileName), $"azure {size.Name}", DateTimeOffset.UtcNow,
            spec.Network == NetworkMode.Isolated ? $"subnet {subnet}" : null);
    }

    public async Task<BootResult> WaitBootedAsync(MachineHandle machine, string marker, TimeSpan timeout, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var vm = Group.GetVirtualMachines();
        var console = new List<string>();
        while (true)
        {
            var found = await vm.GetIfExistsAsync(machine.InstanceId, cancellationToken: ct);
            if (!found.HasValue) return new BootResult(false, DateTime.UtcNow - started, Tail(console), $"VM {machine.InstanceId} does not exist");
            var view = (await found.Value!.InstanceViewAsync(ct)).Value;
            var states = view.Statuses.Select(s => s.Code ?? "").ToList();
            if (view.Statuses.FirstOrDefault(s => s.Code?.StartsWith("ProvisioningState/failed", StringComparison.OrdinalIgnoreCase) == true) is { } failed)
                return new BootResult(false, DateTime.UtcNow - started, Tail(console), $"provisioning of {machine.InstanceId} failed: {failed.Message ?? failed.DisplayStatus ?? failed.Code}");
            console = await SerialLogAsync(found.Value, machine.ConsolePath, ct);
            if (console.Any(l => l.Contains(marker, StringComparison.Ordinal))) return new BootResult(true, DateTime.UtcNow - started, Tail(console), null);
            if (states.Any(s => s is "PowerState/stopped" or "PowerState/deallocated"))
                return new BootResult(false, DateTime.UtcNow - started, Tail(console), $"VM {machine.InstanceId} stopped before its console showed '{marker}'");
            if (DateTime.UtcNow - started > timeout)
                return new BootResult(false, DateTime.UtcNow - started, Tail(console), $"no '{marker}' on the serial log of {machine.InstanceId} within {timeout.TotalSeconds:0} s");
            await Task.Delay(_options.BootPollInterval, ct);
        }
    }

    /// <summary>The machine's serial log as boot diagnostics has it now, kept in its console file (replaced whole: the log is read from its start each time).</summary>
    async Task<List<string>> SerialLogAsync(VirtualMachineResource vm, string consolePath, CancellationToken ct)
    {
        var uris = (await vm.RetrieveBootDiagnosticsDataAsync(5, ct)).Value;
        if (uris.SerialConsoleLogBlobUri is not { } log) return [];
        using var response = await _logs.GetAsync(log, ct);
        // Not there yet: the machine has written nothing to its serial port.
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound) return [];
        response.EnsureSuccessStatusCode();
        var text = await response.Content.ReadAsStringAsync(ct);
        var temp = consolePath + ".tmp";
        await File.WriteAllTextAsync(temp, text, ct);
        File.Move(temp, consolePath, overwrite: true);
        return [.. text.Split('\n')];
    }

    static List<string> Tail(List<string> lines) => lines.TakeLast(20).ToList();

    /// <summary>An imported managed disk is the machine's own from its start: nothing is served, nothing moves.</summary>
    public Task<IReadOnlyList<MovedDisk>> MoveDisksAsync(MachineHandle machine, IReadOnlyList<DiskMove> moves, DiskMoveLimits limits, IProgress<DiskMoveProgress>? progress, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<MovedDisk>>([.. moves.Select((m, i) => new MovedDisk(m.DiskId, $"{Group.Id}/providers/Microsoft.Compute/disks/{AzureTargetRules.DiskName(machine.InstanceId, i)}", 0, 0))]);

    public Task MoveDisksOntoServedAsync(MachineHandle machine, IReadOnlyList<DiskSource> served, TimeSpan timeout, CancellationToken ct) =>
        throw new DiskMoveException($"VM {machine.InstanceId}: the azure target cannot move a running machine onto an agent's exports (a reprotect from Azure is not built)");

    public async Task StopAsync(MachineHandle machine, CancellationToken ct)
    {
        var work = Path.GetDirectoryName(machine.ConsolePath)!;
        await RemoveAsync(machine.InstanceId, Recorded(work)?.Disks ?? 0, ct);
        Forget(work, machine.InstanceId);
    }

    /// <summary>Drops the record of what a start in <paramref name="workDirectory"/> made once all of it is removed, so a later look finds nothing left.</summary>
    static void Forget(string workDirectory, string vm)
    {
        if (Recorded(workDirectory) is var (recorded, _) && recorded == vm) File.Delete(Path.Combine(workDirectory, MachineFileName));
    }

    /// <summary>What <see cref="MachineFileName"/> in <paramref name="workDirectory"/> names: the VM and how many disks it was given.</summary>
    static (string Vm, int Disks)? Recorded(string workDirectory)
    {
        var file = Path.Combine(workDirectory, MachineFileName);
        if (!File.Exists(file)) return null;
        var words = File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return words is [var vm, var n] && AzureTargetRules.VmNameProblem(vm) is null && int.TryParse(n, out var disks) && disks >= 0 ? (vm, disks) : null;
    }

    /// <summary>
    /// Deletes the VM, then its NIC and its disks (<c>VM-disk0</c> … for as many as the start recorded or the VM has).
    /// Each is gone already or removed, so a stop repeated after a node kill finishes what the first began.
    /// </summary>
    async Task RemoveAsync(string vm, int recordedDisks, CancellationToken ct)
    {
        var found = await Group.GetVirtualMachines().GetIfExistsAsync(vm, cancellationToken: ct);
        var disks = Math.Max(recordedDisks, found.HasValue ? 1 + (found.Value!.Data.StorageProfile?.DataDisks.Count ?? 0) : 0);
        if (found.HasValue) await found.Value!.DeleteAsync(WaitUntil.Completed, cancellationToken: ct);
        try { await _arm.GetGenericResource(NicId(vm)).DeleteAsync(WaitUntil.Completed, ct); }
        catch (RequestFailedException e) when (e.Status == 404) { }
        for (var i = 0; i < disks; i++)
        {
            var disk = await Group.GetManagedDisks().GetIfExistsAsync(AzureTargetRules.DiskName(vm, i), ct);
            if (disk.HasValue) await disk.Value!.DeleteAsync(WaitUntil.Completed, ct);
        }
        _log($"azure: {vm}, its NIC and its {disks} disk(s) removed");
    }

    public bool IsRunning(MachineHandle machine)
    {
        var found = Group.GetVirtualMachines().GetIfExists(machine.InstanceId);
        return found.HasValue && found.Value!.InstanceView().Value.Statuses.Any(s => s.Code == "PowerState/running");
    }

    public async Task<string?> StopLeftoverAsync(string workDirectory, CancellationToken ct)
    {
        if (Recorded(workDirectory) is not var (vm, disks)) return null;
        await RemoveAsync(vm, disks, ct);
        Forget(workDirectory, vm);
        return $"removed azure VM {vm}, its NIC and its disks";
    }
}
