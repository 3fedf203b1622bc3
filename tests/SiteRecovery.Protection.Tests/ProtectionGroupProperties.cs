using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SiteRecovery.Actors.Control.ProtectionGroup;
using SiteRecovery.Contracts.Control;
using Xunit;

namespace SiteRecovery.Protection.Tests;

public sealed class ProtectionGroupProperties
{
    private const string G = "g1";

    public static readonly ReplicationSettings Good =
        new(false, TimeSpan.FromMinutes(30), TimeSpan.FromDays(1), TimeSpan.FromHours(4));

    private static readonly Gen<TimeSpan> Duration = Gen.Elements(
        TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.FromTicks(1), TimeSpan.FromMinutes(59), TimeSpan.FromHours(1),
        TimeSpan.FromHours(12), TimeSpan.FromHours(12).Add(TimeSpan.FromTicks(1)), TimeSpan.FromHours(24), TimeSpan.FromDays(1).Add(TimeSpan.FromTicks(1)),
        TimeSpan.FromDays(15), TimeSpan.FromDays(15).Add(TimeSpan.FromTicks(1)));

    private static readonly Gen<ReplicationSettings> Settings =
        from multi in Gen.Elements(true, false)
        from rpo in Duration
        from retention in Duration
        from app in Duration
        select new ReplicationSettings(multi, rpo, retention, app);

    private static readonly Gen<IProtectionGroupCommand> Command = Gen.Frequency(
        (1, from vault in Gen.Elements("vault-a", "vault-b", "")
            from s in Settings
            select (IProtectionGroupCommand)new CreateProtectionGroup(G, vault, s)),
        (1, Gen.Constant((IProtectionGroupCommand)new CreateProtectionGroup(G, "vault-a", Good))),
        (3, Settings.Select(s => (IProtectionGroupCommand)new ChangeReplicationSettings(G, s))),
        (3, Gen.Elements("m1", "m2", "m3", "").Select(m => (IProtectionGroupCommand)new AddMachine(G, m))),
        (2, Gen.Elements("m1", "m2", "m3", "").Select(m => (IProtectionGroupCommand)new RemoveMachine(G, m))));

    [Property(MaxTest = 400)]
    public Property Settings_are_always_valid_and_replay_gives_the_same_state() =>
        Prop.ForAll(Gen.ArrayOf(Command).ToArbitrary(), commands =>
            Checker.Run<ProtectionGroupState, IProtectionGroupCommand, IProtectionGroupEvent>(
                ProtectionGroupState.Empty(G), commands, (_, after, command) =>
                {
                    Assert.True(after.Created);
                    Assert.False(string.IsNullOrWhiteSpace(after.Vault));
                    Assert.Empty(ReplicationSettingsValidation.Validate(after.Settings, "state"));
                    var s = after.Settings!;
                    Assert.InRange(s.RetentionWindow, TimeSpan.FromTicks(1), TimeSpan.FromDays(15));
                    Assert.InRange(s.RpoThreshold, TimeSpan.FromTicks(1), TimeSpan.FromHours(24));
                    Assert.True(s.AppConsistentFrequency == TimeSpan.Zero
                        || (s.AppConsistentFrequency >= TimeSpan.FromHours(1) && s.AppConsistentFrequency <= TimeSpan.FromHours(12)
                            && s.AppConsistentFrequency <= s.RetentionWindow), $"bad app-consistent frequency in {s}");
                    Assert.DoesNotContain("", after.Machines);
                    if (command is AddMachine add) Assert.Contains(add.MachineId, after.Machines);
                    if (command is RemoveMachine remove) Assert.DoesNotContain(remove.MachineId, after.Machines);
                }));

    private static string? Reject(ReplicationSettings s) =>
        ProtectionGroupState.Empty(G).Decide(new CreateProtectionGroup(G, "vault", s)).Rejection?.Message;

    [Fact]
    public void Retention_edges()
    {
        Assert.Null(Reject(Good with { RetentionWindow = TimeSpan.FromDays(15) }));
        Assert.Contains("CreateProtectionGroup.Settings.RetentionWindow must be <= 15 days",
            Reject(Good with { RetentionWindow = TimeSpan.FromDays(15) + TimeSpan.FromTicks(1) }));
        Assert.Null(Reject(Good with { RetentionWindow = TimeSpan.FromTicks(1), AppConsistentFrequency = TimeSpan.Zero }));
        Assert.Contains("Settings.RetentionWindow must be > 0", Reject(Good with { RetentionWindow = TimeSpan.Zero }));
    }

    [Fact]
    public void Rpo_edges()
    {
        Assert.Null(Reject(Good with { RpoThreshold = TimeSpan.FromTicks(1) }));
        Assert.Null(Reject(Good with { RpoThreshold = TimeSpan.FromHours(24) }));
        Assert.Contains("Settings.RpoThreshold must be > 0", Reject(Good with { RpoThreshold = TimeSpan.Zero }));
        Assert.Contains("Settings.RpoThreshold must be <= 24 hours", Reject(Good with { RpoThreshold = TimeSpan.FromHours(24) + TimeSpan.FromTicks(1) }));
    }

    [Fact]
    public void App_consistent_frequency_edges()
    {
        Assert.Null(Reject(Good with { AppConsistentFrequency = TimeSpan.Zero }));
        Assert.Null(Reject(Good with { AppConsistentFrequency = TimeSpan.FromHours(1) }));
        Assert.Null(Reject(Good with { AppConsistentFrequency = TimeSpan.FromHours(12) }));
        Assert.Contains("Settings.AppConsistentFrequency must be 0 (off) or between 1 and 12 hours",
            Reject(Good with { AppConsistentFrequency = TimeSpan.FromHours(1) - TimeSpan.FromTicks(1) }));
        Assert.Contains("Settings.AppConsistentFrequency must be 0 (off) or between 1 and 12 hours",
            Reject(Good with { AppConsistentFrequency = TimeSpan.FromHours(12) + TimeSpan.FromTicks(1) }));
        Assert.Null(Reject(Good with { RetentionWindow = TimeSpan.FromHours(2), AppConsistentFrequency = TimeSpan.FromHours(2) }));
        Assert.Contains("Settings.AppConsistentFrequency must be <= RetentionWindow",
            Reject(Good with { RetentionWindow = TimeSpan.FromHours(2), AppConsistentFrequency = TimeSpan.FromHours(3) }));
    }

    [Fact]
    public void All_settings_failures_are_listed_and_the_vault_is_required()
    {
        var d = ProtectionGroupState.Empty(G).Decide(new CreateProtectionGroup(G, " ",
            new ReplicationSettings(true, TimeSpan.Zero, TimeSpan.FromDays(16), TimeSpan.FromMinutes(5))));
        Assert.Equal(RejectionReason.InvalidArgument, d.Rejection?.Reason);
        Assert.Contains("Vault must be non-empty", d.Rejection!.Message);
        Assert.Contains("RetentionWindow", d.Rejection.Message);
        Assert.Contains("RpoThreshold", d.Rejection.Message);
        Assert.Contains("AppConsistentFrequency", d.Rejection.Message);
    }

    [Fact]
    public void Commands_before_create_are_rejected_NotRegistered()
    {
        var d = ProtectionGroupState.Empty(G).Decide(new AddMachine(G, "m1"));
        Assert.Equal(RejectionReason.NotRegistered, d.Rejection?.Reason);
        Assert.Contains("GroupId", d.Rejection!.Message);
    }
}
