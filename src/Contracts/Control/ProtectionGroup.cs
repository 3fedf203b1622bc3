namespace SiteRecovery.Contracts.Control;

/// <summary>
/// Replication policy of a protection group. Limits (enforced by the ProtectionGroup aggregate):
/// <list type="bullet">
/// <item><see cref="RetentionWindow"/>: &gt; 0 and ≤ 15 days.</item>
/// <item><see cref="RpoThreshold"/>: &gt; 0 and ≤ 24 hours (alert threshold; a larger value would never alert usefully).</item>
/// <item><see cref="AppConsistentFrequency"/>: <see cref="TimeSpan.Zero"/> (off) or between 1 hour and 12 hours, and ≤ <see cref="RetentionWindow"/>.</item>
/// </list>
/// </summary>
public sealed record ReplicationSettings(
    bool MultiVmConsistency,
    TimeSpan RpoThreshold,
    TimeSpan RetentionWindow,
    TimeSpan AppConsistentFrequency);

/// <summary>Any message for a ProtectionGroup entity (identity: group id).</summary>
public interface IProtectionGroupMessage : IEntityMessage
{
    string GroupId { get; }
    string IEntityMessage.EntityId => GroupId;
}

public interface IProtectionGroupCommand : IProtectionGroupMessage;

// ---- commands ----
/// <summary>Creating the same group again with the same vault and settings is an idempotent no-op.</summary>
public sealed record CreateProtectionGroup(string GroupId, string Vault, ReplicationSettings Settings) : IProtectionGroupCommand;

/// <summary>Same settings as the current ones is an idempotent no-op.</summary>
public sealed record ChangeReplicationSettings(string GroupId, ReplicationSettings Settings) : IProtectionGroupCommand;

/// <summary>Adding a member twice is an idempotent no-op.</summary>
public sealed record AddMachine(string GroupId, string MachineId) : IProtectionGroupCommand;

/// <summary>Removing a machine that is not a member is an idempotent no-op.</summary>
public sealed record RemoveMachine(string GroupId, string MachineId) : IProtectionGroupCommand;

// ---- query ----
public sealed record GetProtectionGroup(string GroupId) : IProtectionGroupMessage;

public sealed record ProtectionGroupView(
    string GroupId,
    bool Created,
    string? Vault,
    ReplicationSettings? Settings,
    IReadOnlyList<string> Machines);

// ---- events ----
public interface IProtectionGroupEvent : IControlEvent
{
    string GroupId { get; }
}

[Manifest("protection-group-created.v1")]
public sealed record ProtectionGroupCreated(string GroupId, string Vault, ReplicationSettings Settings) : IProtectionGroupEvent;

[Manifest("protection-group-settings-changed.v1")]
public sealed record ReplicationSettingsChanged(string GroupId, ReplicationSettings Settings) : IProtectionGroupEvent;

[Manifest("protection-group-machine-added.v1")]
public sealed record MachineAddedToGroup(string GroupId, string MachineId) : IProtectionGroupEvent;

[Manifest("protection-group-machine-removed.v1")]
public sealed record MachineRemovedFromGroup(string GroupId, string MachineId) : IProtectionGroupEvent;
