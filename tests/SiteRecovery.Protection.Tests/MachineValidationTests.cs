using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;

namespace SiteRecovery.Protection.Tests;

public sealed class MachineValidationTests
{
    private static IReadOnlyList<MachineValidationReason> Reasons(MachineProperties p) =>
        MachineValidation.Validate(p).Select(f => f.Reason).ToList();

    [Fact]
    public void A_valid_machine_has_no_failures() => Assert.Empty(MachineValidation.Validate(Valid()));

    [Fact]
    public void Thirty_one_disks_pass_thirty_two_fail()
    {
        Assert.Empty(MachineValidation.Validate(Valid(31)));
        var failure = Assert.Single(MachineValidation.Validate(Valid(32)));
        Assert.Equal(MachineValidationReason.TooManyDisks, failure.Reason);
        Assert.Equal("Disks", failure.Field);
        Assert.Contains("at most 31", failure.Message);
        Assert.Contains("was 32", failure.Message);
    }

    [Fact]
    public void No_disks_fails() => Assert.Equal([MachineValidationReason.NoDisks], Reasons(Valid(0)));

    [Fact]
    public void Disk_of_1023_GiB_passes_and_one_byte_more_fails()
    {
        Assert.Equal(1023L * 1024 * 1024 * 1024, MachineValidation.MaxDiskBytes);
        Assert.Empty(MachineValidation.Validate(Valid() with { Disks = [new("d0", 1023 * GiB)] }));
        var failure = Assert.Single(MachineValidation.Validate(Valid() with { Disks = [new("d0", 1), new("d1", 1023 * GiB + 1)] }));
        Assert.Equal(MachineValidationReason.DiskTooLarge, failure.Reason);
        Assert.Equal("Disks[1].SizeBytes", failure.Field);
        Assert.Contains((1023 * GiB + 1).ToString(), failure.Message);
    }

    [Fact]
    public void Zero_size_and_duplicate_disk_ids_fail()
    {
        var p = Valid() with { Disks = [new("d0", 0), new("d0", 5), new("", 5)] };
        Assert.Equal(
            [MachineValidationReason.InvalidDisk, MachineValidationReason.DuplicateDiskId, MachineValidationReason.InvalidDisk],
            Reasons(p));
    }

    [Fact]
    public void Clustered_uefi_and_bitlocker_each_fail_with_their_own_reason()
    {
        Assert.Equal([MachineValidationReason.ClusteredServer], Reasons(Valid() with { Clustered = true }));
        Assert.Equal([MachineValidationReason.UefiBoot], Reasons(Valid() with { BootType = BootType.Uefi }));
        Assert.Equal([MachineValidationReason.BitLockerVolumes], Reasons(Valid() with { HasBitLockerVolumes = true }));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("7")]
    [InlineData("a-b")]
    [InlineData("Web-01")]
    [InlineData("a--b")]
    public void Valid_failover_names(string name) => Assert.Empty(MachineValidation.ValidateFailoverName(name));

    [Fact]
    public void Failover_name_of_63_chars_passes_and_64_fails()
    {
        Assert.Empty(MachineValidation.ValidateFailoverName(new string('a', 63)));
        var failure = Assert.Single(MachineValidation.ValidateFailoverName(new string('a', 64)));
        Assert.Equal(MachineValidationReason.InvalidFailoverName, failure.Reason);
        Assert.Contains("1-63 characters (was 64)", failure.Message);
    }

    [Theory]
    [InlineData("", "1-63 characters (was empty)")]
    [InlineData("-a", "must start with a letter or digit")]
    [InlineData("a-", "must end with a letter or digit")]
    [InlineData("-", "must start with a letter or digit")]
    [InlineData("a_b", "only letters, digits and hyphens")]
    [InlineData("a.b", "only letters, digits and hyphens")]
    [InlineData("a b", "only letters, digits and hyphens")]
    [InlineData("é", "only letters, digits and hyphens")]
    public void Invalid_failover_names(string name, string rule)
    {
        var failures = MachineValidation.ValidateFailoverName(name);
        Assert.NotEmpty(failures);
        Assert.All(failures, f => Assert.Equal("FailoverName", f.Field));
        Assert.Contains(failures, f => f.Message.Contains(rule));
    }

    [Fact]
    public void Every_failure_is_reported_together()
    {
        var p = new MachineProperties("vm", GuestOs.Windows,
            [.. Disks(32), new MachineDisk("huge", 1023 * GiB + 1)],
            BootType.Uefi, Clustered: true, HasBitLockerVolumes: true, FailoverName: "-" + new string('x', 63), FailoverVmSize: "", FailoverNetwork: " ");
        var reasons = Reasons(p);
        Assert.Equal(
            [
                MachineValidationReason.TooManyDisks, MachineValidationReason.DiskTooLarge, MachineValidationReason.ClusteredServer,
                MachineValidationReason.UefiBoot, MachineValidationReason.BitLockerVolumes, MachineValidationReason.InvalidFailoverName,
                MachineValidationReason.InvalidFailoverName, MachineValidationReason.MissingFailoverVmSize, MachineValidationReason.MissingFailoverNetwork,
            ],
            reasons);

        // The EnableProtection rejection lists all of them.
        var state = ProtectedMachineState.Empty("m").Apply(new MachineDiscovered("m", p));
        var decision = state.Decide(new EnableProtection("m", new PlacementDecision("mt", "ps")));
        Assert.Equal(RejectionReason.InvalidArgument, decision.Rejection?.Reason);
        Assert.Empty(decision.Events);
        Assert.Contains("9 validation failure(s)", decision.Rejection!.Message);
        foreach (var reason in reasons.Distinct()) Assert.Contains($"[{reason}]", decision.Rejection.Message);
        Assert.Contains("Disks[32].SizeBytes", decision.Rejection.Message);
    }
}
