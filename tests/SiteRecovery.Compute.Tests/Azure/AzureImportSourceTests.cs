using Azure.Core;
using SiteRecovery.Compute.Azure;

namespace SiteRecovery.Compute.Tests.Azure;

/// <summary>
/// What a node's azure target takes as a failover's disks and VM: only blobs of its storage account (under the
/// account's blob endpoint, which for Azurite is plain http on loopback), the machine's failover size when it names one
/// the region offers; and a stop that leaves no record behind, so a later cleanup of the folder finds nothing to do.
/// Against <see cref="ArmStandIn"/>, never real Azure.
/// </summary>
public sealed class AzureImportSourceTests : IAsyncLifetime, IDisposable
{
    const string Subscription = "00000000-0000-0000-0000-00000000beef";
    const string Network = $"/subscriptions/{Subscription}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/dr-vnet";
    const string Account = $"/subscriptions/{Subscription}/resourceGroups/storage/providers/Microsoft.Storage/storageAccounts/devstoreaccount1";
    static readonly Uri Azurite = new("http://127.0.0.1:10000/devstoreaccount1/");

    readonly string _work = Directory.CreateTempSubdirectory("sr-azure-import-").FullName;
    ArmStandIn _arm = null!;
    AzureComputeTarget _target = null!;

    sealed class StandInToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => new("stand-in-token", DateTimeOffset.UtcNow.AddHours(1));
        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new(GetToken(requestContext, cancellationToken));
    }

    public async Task InitializeAsync()
    {
        _arm = await ArmStandIn.StartAsync();
        _arm.Sizes.AddRange([("Standard_B2s", 2, 4096), ("Standard_B1s", 1, 1024), ("Standard_D4s_v5", 4, 16384)]);
        _target = new AzureComputeTarget(new AzureTargetOptions(Subscription, "sr-recovered", "westeurope", Account, $"{Network}/subnets/production", $"{Network}/subnets/drill")
        {
            Endpoint = _arm.Endpoint,
            Audience = _arm.Endpoint.AbsoluteUri,
            BlobEndpoint = Azurite,
            RetryDelay = TimeSpan.FromMilliseconds(50),
            MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        }, new StandInToken(), _arm.ClientHandler());
    }

    public async Task DisposeAsync() => await _arm.DisposeAsync();

    public void Dispose() { try { Directory.Delete(_work, true); } catch (IOException) { } }

    MachineSpec Spec(string? size = null) => new("vm1", "web01", 256, 1, "bios", NetworkMode.Isolated, null, Path.Combine(_work, "job-1", "vm1"), VmSize: size);

    [Theory]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/sr-c/vm1-boot.vhd?snapshot=2026-12-07T09:00:00.0000000Z", null)]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/sr-c/vm1-boot.vhd", null)]
    [InlineData("http://127.0.0.1:10000/otheraccount/sr-c/vm1-boot.vhd", "under http://127.0.0.1:10000/devstoreaccount1/")]
    [InlineData("https://devstoreaccount1.blob.core.windows.net/sr-c/vm1-boot.vhd", "under http://127.0.0.1:10000/devstoreaccount1/")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/", "under http://127.0.0.1:10000/devstoreaccount1/")]
    [InlineData("nbd://127.0.0.1:10809/vm1-boot", "under http://127.0.0.1:10000/devstoreaccount1/")]
    public void A_disk_is_imported_only_from_a_blob_of_the_targets_account(string uri, string? problem)
    {
        var got = AzureTargetRules.ImportSourceProblem(uri, Azurite);
        if (problem is null) Assert.Null(got);
        else Assert.Contains(problem, got);
    }

    [Fact]
    public void A_named_size_must_be_offered_and_without_one_the_smallest_fitting_is_taken()
    {
        List<AzureVmSize> sizes = [new("Standard_B2s", 2, 4096), new("Standard_B1s", 1, 1024)];
        Assert.Equal("Standard_B2s", AzureTargetRules.ChooseSize(sizes, "standard_b2s", 1, 512, "westeurope").Size?.Name);
        Assert.Equal("Standard_B1s", AzureTargetRules.ChooseSize(sizes, null, 1, 512, "westeurope").Size?.Name);
        var (none, error) = AzureTargetRules.ChooseSize(sizes, "Standard_D2s_v3", 1, 512, "westeurope");
        Assert.Null(none);
        Assert.Equal("VmSize: 'Standard_D2s_v3' is not offered in westeurope (offered: Standard_B1s, Standard_B2s)", error);
        Assert.Equal("no VM size in westeurope has 8 cores and 512 MiB", AzureTargetRules.ChooseSize(sizes, null, 8, 512, "westeurope").Error);
        // A named size brings its memory: the spec's own is not checked then.
        Assert.Empty(AzureTargetRules.Validate(Spec("Standard_B1s"), _targetOptions));
        Assert.Contains("MemoryMiB: 256 is below the smallest Azure size's 512 MiB", AzureTargetRules.Validate(Spec(), _targetOptions));
    }

    static readonly AzureTargetOptions _targetOptions = new(Subscription, "sr-recovered", "westeurope", Account, $"{Network}/subnets/production", $"{Network}/subnets/drill");

    [Fact]
    public async Task A_replica_outside_the_account_or_a_size_the_region_lacks_is_refused_before_anything_is_created()
    {
        var outside = await Assert.ThrowsAsync<InvalidOperationException>(() => _target.StartAsync(Spec("Standard_B1s"),
            [new("vm1-boot", "https://elsewhere.blob.core.windows.net/c/vm1-boot.vhd?snapshot=x", 16 << 20)], CancellationToken.None));
        Assert.Contains("Disks[0] (vm1-boot): 'https://elsewhere.blob.core.windows.net/c/vm1-boot.vhd?snapshot=x' must be the URI of a page blob", outside.Message);
        var size = await Assert.ThrowsAsync<InvalidOperationException>(() => _target.StartAsync(Spec("Standard_M416"),
            [new("vm1-boot", $"{Azurite}sr-c/vm1-boot.vhd?snapshot=x", 16 << 20)], CancellationToken.None));
        Assert.Contains("VmSize: 'Standard_M416' is not offered in westeurope", size.Message);
        Assert.Empty(_arm.Sent("PUT", "/"));
    }

    [Fact]
    public async Task The_named_size_is_the_vms_and_a_stop_leaves_nothing_for_a_later_cleanup_of_its_folder()
    {
        var spec = Spec("Standard_D4s_v5");
        var source = $"{Azurite}sr-c/vm1-boot.vhd?snapshot=2026-12-07T09:00:00.0000000Z";
        var machine = await _target.StartAsync(spec, [new("vm1-boot", source, 16 << 20)], CancellationToken.None);
        var vm = AzureTargetRules.VmName(spec);
        Assert.Equal("Standard_D4s_v5", _arm.Sent("PUT", $"/virtualMachines/{vm}").Single().Body!["properties"]!["hardwareProfile"]!["vmSize"]!.GetValue<string>());
        Assert.Equal(source, _arm.Sent("PUT", $"/disks/{vm}-disk0").Single().Body!["properties"]!["creationData"]!["sourceUri"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(spec.WorkDirectory, AzureComputeTarget.MachineFileName)));

        await _target.StopAsync(machine, CancellationToken.None);
        Assert.Empty(_arm.ResourceIds);
        Assert.False(File.Exists(Path.Combine(spec.WorkDirectory, AzureComputeTarget.MachineFileName)));
        // The failover's cleanup asks every target about the folder after the stop: nothing is left to remove, so nothing is claimed.
        var deletes = _arm.Sent("DELETE", "/").Count();
        Assert.Null(await _target.StopLeftoverAsync(spec.WorkDirectory, CancellationToken.None));
        Assert.Equal(deletes, _arm.Sent("DELETE", "/").Count());
    }
}
