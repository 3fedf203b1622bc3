using SiteRecovery.Compute.Azure;

namespace SiteRecovery.Compute.Tests.Azure;

/// <summary>The Azure target's rules as tables: names, sizes, and what a machine must say before Azure is asked anything.</summary>
public sealed class AzureTargetRulesTests
{
    const string Subnet = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/";
    static readonly AzureTargetOptions Options = new("s", "rg", "westeurope", "/subscriptions/s/resourceGroups/st/providers/Microsoft.Storage/storageAccounts/a", Subnet + "prod", Subnet + "drill");
    static readonly MachineSpec Good = new("vm1", "web01", 1024, 1, "bios", NetworkMode.Production, null, "/tmp/f/job/vm1");

    [Theory]
    [InlineData("web01", null)]
    [InlineData("a", null)]
    [InlineData("web-01-prod", null)]
    [InlineData("", "must be 1..64 characters")]
    [InlineData("-web", "may hold only letters, digits and '-'")]
    [InlineData("web-", "may hold only letters, digits and '-'")]
    [InlineData("web_01", "may hold only letters, digits and '-'")]
    [InlineData("web.01", "may hold only letters, digits and '-'")]
    [InlineData("web 01", "may hold only letters, digits and '-'")]
    public void Vm_names(string name, string? problem) => Assert.Equal(problem, AzureTargetRules.VmNameProblem(name)?[..(problem?.Length ?? 0)]);

    [Fact]
    public void A_vm_name_of_65_characters_is_refused_and_resource_names_follow_their_own_rule()
    {
        Assert.Equal("must be 1..64 characters", AzureTargetRules.VmNameProblem(new string('a', 65)));
        Assert.Null(AzureTargetRules.VmNameProblem(new string('a', 64)));
        Assert.Null(AzureTargetRules.ResourceNameProblem("web01-disk0"));
        Assert.Null(AzureTargetRules.ResourceNameProblem("web01_"));
        Assert.NotNull(AzureTargetRules.ResourceNameProblem("web01."));
        Assert.NotNull(AzureTargetRules.ResourceNameProblem(new string('a', 81)));
    }

    [Fact]
    public void A_drill_names_its_vm_apart_from_production_and_from_other_drills_and_the_same_start_again_names_it_the_same()
    {
        var drill = Good with { Network = NetworkMode.Isolated };
        var name = AzureTargetRules.VmName(drill);
        Assert.Matches("^web01-test-[0-9a-f]{6}$", name);
        Assert.Equal(name, AzureTargetRules.VmName(drill));
        Assert.NotEqual(name, AzureTargetRules.VmName(drill with { WorkDirectory = "/tmp/f/job2/vm1" }));
        Assert.Equal("web01", AzureTargetRules.VmName(Good));
        var longName = AzureTargetRules.VmName(drill with { Name = new string('w', 64) });
        Assert.Equal(64, longName.Length);
        Assert.Null(AzureTargetRules.VmNameProblem(longName));
        Assert.Null(AzureTargetRules.ResourceNameProblem(AzureTargetRules.DiskName(longName, 15)));
    }

    [Fact]
    public void The_smallest_size_with_enough_cores_and_memory_is_taken()
    {
        AzureVmSize[] sizes = [new("Standard_B2s", 2, 4096), new("Standard_B1s", 1, 1024), new("Standard_A1_v2", 1, 2048), new("Standard_D4s", 4, 16384)];
        Assert.Equal("Standard_B1s", AzureTargetRules.PickSize(sizes, 1, 1024)?.Name);
        Assert.Equal("Standard_A1_v2", AzureTargetRules.PickSize(sizes, 1, 1025)?.Name);
        Assert.Equal("Standard_B2s", AzureTargetRules.PickSize(sizes, 2, 512)?.Name);
        Assert.Equal("Standard_D4s", AzureTargetRules.PickSize(sizes, 3, 512)?.Name);
        Assert.Null(AzureTargetRules.PickSize(sizes, 8, 512));
        Assert.Null(AzureTargetRules.PickSize([], 1, 512));
    }

    [Fact]
    public void Every_broken_rule_of_a_machine_is_named_at_once()
    {
        Assert.Empty(AzureTargetRules.Validate(Good, Options));
        var problems = AzureTargetRules.Validate(Good with { Name = "web_01", Cpus = 0, MemoryMiB = 256, Firmware = "coreboot", StaticAddress = "ten", GuestProbes = ["10.0.0.1"] }, Options);
        Assert.Contains(problems, p => p.StartsWith("Name: 'web_01'"));
        Assert.Contains("Cpus: 0 must be at least 1", problems);
        Assert.Contains("MemoryMiB: 256 is below the smallest Azure size's 512 MiB", problems);
        Assert.Contains(problems, p => p.StartsWith("Firmware: 'coreboot'"));
        Assert.Contains("StaticAddress: 'ten' is not an IP address", problems);
        Assert.Contains(problems, p => p.StartsWith("GuestProbes: the Azure target hands a guest no hints"));
        Assert.Equal(6, problems.Count);
        Assert.Contains(AzureTargetRules.Validate(Good with { Network = NetworkMode.None }, Options), p => p.StartsWith("Network: an Azure machine always has a NIC"));
        var noSubnet = AzureTargetRules.Validate(Good with { Network = NetworkMode.Isolated }, Options with { IsolatedSubnetId = "drill" });
        Assert.Equal("Network: the target's isolated-subnet-id 'drill' is not a subnet's ARM id (/subscriptions/…/virtualNetworks/…/subnets/…)", Assert.Single(noSubnet));
    }

    [Theory]
    [InlineData("https://a.blob.core.windows.net/replicas/d0.vhd", true)]
    [InlineData("https://a.blob.core.windows.net/replicas/d0.vhd?snapshot=2026-12-07T09:00:00Z", true)]
    [InlineData("http://a.blob.core.windows.net/replicas/d0.vhd", false)]
    [InlineData("nbd://127.0.0.1:10809/d0", false)]
    [InlineData("https://a.blob.core.windows.net/d0", false)]
    [InlineData("/var/lib/d0.img", false)]
    public void Import_sources(string uri, bool ok) => Assert.Equal(ok, AzureTargetRules.ImportSourceProblem(uri) is null);
}
