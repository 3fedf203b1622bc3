using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.ProtectedMachine;
using SiteRecovery.Contracts.Control;
using Xunit;
using static SiteRecovery.Protection.Tests.Machines;

namespace SiteRecovery.Protection.Tests;

public sealed class ProtectedMachineProperties
{
    private const string M = "m1";

    private static readonly Gen<MachineProperties> AnyProperties = Gen.Elements(
        Valid(),
        Valid(31),
        Valid(32),
        Valid(0),
        Valid() with { Clustered = true },
        Valid() with { BootType = BootType.Uefi },
        Valid() with { HasBitLockerVolumes = true },
        Valid(failoverName: "bad-"),
        Valid() with { Disks = [new("d0", 1023 * GiB + 1)] },
        Valid(os: GuestOs.Windows, failoverName: "win-01"));

    private static readonly Gen<IProtectedMachineCommand> Command = Gen.Frequency(
        (2, AnyProperties.Select(p => (IProtectedMachineCommand)new DiscoverMachine(M, p))),
        (3, Gen.Elements(new PlacementDecision("mt1", "ps1"), new PlacementDecision("", "ps1"), new PlacementDecision("mt2", "ps2"))
            .Select(p => (IProtectedMachineCommand)new EnableProtection(M, p))),
        (8, Gen.Elements<IProtectedMachineCommand>(
            new AbortEnabling(M, "install failed"), new AbortEnabling(M, ""),
            new StartInitialReplication(M), new CompleteInitialReplication(M),
            new StartFailover(M), new CompleteFailover(M), new StartReprotect(M), new CompleteReprotect(M),
            new DisableProtection(M), new CompleteDisable(M))),
        (2, from name in Gen.Elements("vm-2", "vm-1", "-x", new string('n', 64), "")
            from net in Gen.Elements("net-a", "net-b", "")
            select (IProtectedMachineCommand)new ChangeFailoverProperties(M, name, "Standard_D4s", net)));

    private static readonly ProtectionState[] ReplicatingStates =
        [ProtectionState.Enabling, ProtectionState.InitialReplication, ProtectionState.Protected, ProtectionState.FailoverInProgress,
         ProtectionState.FailedOver, ProtectionState.ReprotectInProgress, ProtectionState.Disabling, ProtectionState.Disabled];

    [Property(MaxTest = 400)]
    public Property No_command_sequence_reaches_an_invalid_state() =>
        Prop.ForAll(Gen.ArrayOf(Command).ToArbitrary(), commands =>
        {
            var trail = new List<ProtectionState> { ProtectionState.NotDiscovered };
            Checker.Run<ProtectedMachineState, IProtectedMachineCommand, IProtectedMachineEvent>(
                ProtectedMachineState.Empty(M), commands, (before, after, command) =>
                {
                    // Only transitions of the table, and the one the table names for this command.
                    Assert.True(ProtectionTransitions.TryGet(before.State, command.GetType(), out var to),
                        $"{command.GetType().Name} accepted in {before.State}");
                    Assert.Equal(to, after.State);
                    trail.Add(after.State);

                    Assert.NotNull(after.Properties);
                    if (ReplicatingStates.Contains(after.State))
                    {
                        Assert.Empty(MachineValidation.Validate(after.Properties));
                        Assert.NotNull(after.Placement);
                    }

                    if (after.State == ProtectionState.Protected && before.State != ProtectionState.Protected)
                    {
                        // Since the last (re)discovery the machine went Enabling → InitialReplication before its first Protected.
                        var since = trail.LastIndexOf(ProtectionState.Discovered);
                        var path = trail.Skip(since).ToList();
                        var enabling = path.IndexOf(ProtectionState.Enabling);
                        var initial = path.IndexOf(ProtectionState.InitialReplication);
                        var firstProtected = path.IndexOf(ProtectionState.Protected);
                        Assert.True(since >= 0 && enabling > 0 && initial > enabling && firstProtected > initial,
                            $"Protected without Enabling/InitialReplication: {string.Join(" → ", trail)}");
                    }
                });
        });

    [Fact]
    public void Every_pair_not_in_the_table_is_rejected_InvalidState_naming_state_and_command()
    {
        IProtectedMachineCommand[] all =
        [
            new DiscoverMachine(M, Valid()), new EnableProtection(M, new("mt1", "ps1")), new AbortEnabling(M, "x"),
            new StartInitialReplication(M), new CompleteInitialReplication(M), new StartFailover(M), new CompleteFailover(M),
            new StartReprotect(M), new CompleteReprotect(M), new DisableProtection(M), new CompleteDisable(M),
            new ChangeFailoverProperties(M, "vm-9", "size", "net"),
        ];
        var checkedPairs = 0;
        foreach (var state in Enum.GetValues<ProtectionState>().Where(s => s != ProtectionState.NotDiscovered))
        {
            var s = ProtectedMachineState.Empty(M) with
            {
                State = state,
                Properties = Valid(),
                Placement = new("mt1", "ps1"),
            };
            foreach (var command in all)
            {
                var d = s.Decide(command);
                if (ProtectionTransitions.TryGet(state, command.GetType(), out _))
                {
                    Assert.False(d.IsRejected, $"{command.GetType().Name} in {state}: {d.Rejection?.Message}");
                    continue;
                }

                checkedPairs++;
                Assert.Equal(RejectionReason.InvalidState, d.Rejection?.Reason);
                Assert.Empty(d.Events);
                Assert.Contains(command.GetType().Name, d.Rejection!.Message);
                Assert.Contains($"state {state}", d.Rejection.Message);
            }
        }

        Assert.True(checkedPairs > 80, $"only {checkedPairs} illegal pairs checked");
    }

    [Fact]
    public void Undiscovered_machine_accepts_only_DiscoverMachine()
    {
        var d = ProtectedMachineState.Empty(M).Decide(new EnableProtection(M, new("mt1", "ps1")));
        Assert.Equal(RejectionReason.NotRegistered, d.Rejection?.Reason);
        Assert.Contains("MachineId", d.Rejection!.Message);
    }

    [Fact]
    public void Table_has_no_shortcut_to_Protected()
    {
        Assert.All(ProtectionTransitions.Table.Where(t => t.To == ProtectionState.Protected),
            t => Assert.Contains(t.From, new[] { ProtectionState.InitialReplication, ProtectionState.ReprotectInProgress, ProtectionState.Protected }));
        Assert.False(ProtectionTransitions.IsLegal(ProtectionState.Discovered, ProtectionState.Protected));
        Assert.False(ProtectionTransitions.IsLegal(ProtectionState.Enabling, ProtectionState.Protected));
    }

    [Fact]
    public void Full_life_cycle_and_failover_properties_only_once_Protected()
    {
        var s = ProtectedMachineState.Empty(M);
        ProtectedMachineState Step(IProtectedMachineCommand c)
        {
            var d = s.Decide(c);
            Assert.False(d.IsRejected, d.Rejection?.Message);
            return s = d.Events.Aggregate(s, (x, e) => x.Apply(e));
        }

        Step(new DiscoverMachine(M, Valid()));
        var early = s.Decide(new ChangeFailoverProperties(M, "vm-2", "size", "net"));
        Assert.Equal(RejectionReason.InvalidState, early.Rejection?.Reason);
        Assert.Contains("state Discovered", early.Rejection!.Message);

        Step(new EnableProtection(M, new("mt1", "ps1")));
        Assert.Equal(RejectionReason.InvalidState, s.Decide(new ChangeFailoverProperties(M, "vm-2", "size", "net")).Rejection?.Reason);
        Step(new StartInitialReplication(M));
        Step(new CompleteInitialReplication(M));
        Assert.Equal(ProtectionState.Protected, s.State);

        var badName = s.Decide(new ChangeFailoverProperties(M, "vm-", "", "net"));
        Assert.Equal(RejectionReason.InvalidArgument, badName.Rejection?.Reason);
        Assert.Contains("ChangeFailoverProperties.FailoverName must end with a letter or digit", badName.Rejection!.Message);
        Assert.Contains("ChangeFailoverProperties.FailoverVmSize must be non-empty", badName.Rejection.Message);

        Step(new ChangeFailoverProperties(M, "vm-2", "Standard_D8s", "net-b"));
        Assert.Equal("vm-2", s.Properties!.FailoverName);
        Assert.Empty(s.Decide(new ChangeFailoverProperties(M, "vm-2", "Standard_D8s", "net-b")).Events);

        Step(new StartFailover(M));
        Step(new CompleteFailover(M));
        Step(new StartReprotect(M));
        Step(new CompleteReprotect(M));
        Assert.Equal(ProtectionState.Protected, s.State);
        Step(new DisableProtection(M));
        Step(new CompleteDisable(M));
        Assert.Equal(ProtectionState.Disabled, s.State);
        Step(new DiscoverMachine(M, Valid(3)));
        Assert.Equal(ProtectionState.Discovered, s.State);
        Assert.Null(s.Placement);
    }
}
