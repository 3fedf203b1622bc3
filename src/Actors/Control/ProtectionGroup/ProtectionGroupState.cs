using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.ProtectionGroup;

/// <summary>Immutable state of one protection group with pure <see cref="Decide"/> and <see cref="Apply"/>.</summary>
[Manifest("protection-group-state.v1")]
public sealed record ProtectionGroupState(
    string GroupId,
    bool Created,
    string? Vault,
    ReplicationSettings? Settings,
    ImmutableSortedSet<string> Machines)
    : IControlSnapshot, IAggregateState<ProtectionGroupState, IProtectionGroupCommand, IProtectionGroupEvent>
{
    public static ProtectionGroupState Empty(string groupId) =>
        new(groupId, false, null, null, ImmutableSortedSet.Create<string>(StringComparer.Ordinal));

    public Decision<IProtectionGroupEvent> Decide(IProtectionGroupCommand command)
    {
        if (!Created && command is not CreateProtectionGroup)
            return Decision<IProtectionGroupEvent>.Reject(RejectionReason.NotRegistered,
                $"{command.GetType().Name}.GroupId '{command.GroupId}' is not a created protection group; send CreateProtectionGroup first");

        return command switch
        {
            CreateProtectionGroup c => DecideCreate(c),
            ChangeReplicationSettings c => DecideChange(c),
            AddMachine c => DecideAdd(c),
            RemoveMachine c => DecideRemove(c),
            _ => Invalid($"Command type {command.GetType().Name} is not handled by ProtectionGroup"),
        };
    }

    private Decision<IProtectionGroupEvent> DecideCreate(CreateProtectionGroup c)
    {
        const string cmd = nameof(CreateProtectionGroup);
        var failures = new List<string>();
        if (Rules.Blank(c.GroupId)) failures.Add(Rules.MustBeNonEmpty(cmd, nameof(c.GroupId)));
        if (Rules.Blank(c.Vault)) failures.Add(Rules.MustBeNonEmpty(cmd, nameof(c.Vault)));
        failures.AddRange(ReplicationSettingsValidation.Validate(c.Settings, cmd));
        if (failures.Count > 0) return Invalid(string.Join("; ", failures));

        if (Created)
        {
            return Vault == c.Vault && Settings == c.Settings
                ? Decision<IProtectionGroupEvent>.NoOp
                : Decision<IProtectionGroupEvent>.Reject(RejectionReason.AlreadyRegistered,
                    $"{cmd}.GroupId '{c.GroupId}' is already created with a different Vault/Settings; use ChangeReplicationSettings");
        }

        return Decision<IProtectionGroupEvent>.Accept(new ProtectionGroupCreated(c.GroupId, c.Vault, c.Settings));
    }

    private Decision<IProtectionGroupEvent> DecideChange(ChangeReplicationSettings c)
    {
        var failures = ReplicationSettingsValidation.Validate(c.Settings, nameof(ChangeReplicationSettings));
        if (failures.Count > 0) return Invalid(string.Join("; ", failures));
        return Settings == c.Settings
            ? Decision<IProtectionGroupEvent>.NoOp
            : Decision<IProtectionGroupEvent>.Accept(new ReplicationSettingsChanged(c.GroupId, c.Settings));
    }

    private Decision<IProtectionGroupEvent> DecideAdd(AddMachine c)
    {
        if (Rules.Blank(c.MachineId)) return Invalid(Rules.MustBeNonEmpty(nameof(AddMachine), nameof(c.MachineId)));
        return Machines.Contains(c.MachineId)
            ? Decision<IProtectionGroupEvent>.NoOp
            : Decision<IProtectionGroupEvent>.Accept(new MachineAddedToGroup(c.GroupId, c.MachineId));
    }

    private Decision<IProtectionGroupEvent> DecideRemove(RemoveMachine c)
    {
        if (Rules.Blank(c.MachineId)) return Invalid(Rules.MustBeNonEmpty(nameof(RemoveMachine), nameof(c.MachineId)));
        return Machines.Contains(c.MachineId)
            ? Decision<IProtectionGroupEvent>.Accept(new MachineRemovedFromGroup(c.GroupId, c.MachineId))
            : Decision<IProtectionGroupEvent>.NoOp;
    }

    public ProtectionGroupState Apply(IProtectionGroupEvent @event) => @event switch
    {
        ProtectionGroupCreated e => this with { Created = true, Vault = e.Vault, Settings = e.Settings },
        ReplicationSettingsChanged e => this with { Settings = e.Settings },
        MachineAddedToGroup e => this with { Machines = Machines.Add(e.MachineId) },
        MachineRemovedFromGroup e => this with { Machines = Machines.Remove(e.MachineId) },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown ProtectionGroup event"),
    };

    public ProtectionGroupView ToView() => new(GroupId, Created, Vault, Settings, Machines.ToList());

    private static Decision<IProtectionGroupEvent> Invalid(string message) =>
        Decision<IProtectionGroupEvent>.Reject(RejectionReason.InvalidArgument, message);
}
