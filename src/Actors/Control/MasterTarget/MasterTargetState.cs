using System.Collections.Immutable;
using System.Text.Json.Serialization;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.MasterTarget;

/// <summary>Immutable state of one master target with pure <see cref="Decide"/> and <see cref="Apply"/>.</summary>
[Manifest("master-target-state.v1")]
public sealed record MasterTargetState(
    string ServerId,
    bool Registered,
    TargetOs? TargetOs,
    int DataDiskSlots,
    ImmutableSortedDictionary<string, string> Replicas)
    : IControlSnapshot, IAggregateState<MasterTargetState, IMasterTargetCommand, IMasterTargetEvent>
{
    /// <summary>Slots reserved for the retention volume.</summary>
    public const int RetentionSlots = Placement.CapacityLimits.RetentionSlots;

    public static readonly IReadOnlyList<int> AllowedDataDiskSlots = Placement.CapacityLimits.AllowedDataDiskSlots;

    public static MasterTargetState Empty(string serverId) =>
        new(serverId, false, null, 0, ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    [JsonIgnore]
    public int UsableSlots => Registered ? DataDiskSlots - RetentionSlots : 0;

    [JsonIgnore]
    public int FreeSlots => UsableSlots - Replicas.Count;

    public Decision<IMasterTargetEvent> Decide(IMasterTargetCommand command)
    {
        if (!Registered && command is not RegisterMasterTarget)
            return Decision<IMasterTargetEvent>.Reject(RejectionReason.NotRegistered,
                $"{command.GetType().Name}.ServerId '{command.ServerId}' is not a registered master target; send RegisterMasterTarget first");

        return command switch
        {
            RegisterMasterTarget c => DecideRegister(c),
            AttachReplica c => DecideAttach(c),
            DetachReplica c => DecideDetach(c),
            _ => Invalid($"Command type {command.GetType().Name} is not handled by MasterTarget"),
        };
    }

    private Decision<IMasterTargetEvent> DecideRegister(RegisterMasterTarget c)
    {
        const string cmd = nameof(RegisterMasterTarget);
        if (Rules.Blank(c.ServerId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.ServerId)));
        if (!Enum.IsDefined(c.TargetOs)) return Invalid(Rules.MustBeDefined(cmd, nameof(c.TargetOs), c.TargetOs));
        if (!AllowedDataDiskSlots.Contains(c.DataDiskSlots))
            return Invalid($"{cmd}.DataDiskSlots must be 16 or 32 (was {c.DataDiskSlots})");

        if (Registered)
        {
            return TargetOs == c.TargetOs && DataDiskSlots == c.DataDiskSlots
                ? Decision<IMasterTargetEvent>.NoOp
                : Decision<IMasterTargetEvent>.Reject(RejectionReason.AlreadyRegistered,
                    $"{cmd}.ServerId '{c.ServerId}' is already registered with different TargetOs/DataDiskSlots");
        }

        return Decision<IMasterTargetEvent>.Accept(new MasterTargetRegistered(c.ServerId, c.TargetOs, c.DataDiskSlots));
    }

    private Decision<IMasterTargetEvent> DecideAttach(AttachReplica c)
    {
        const string cmd = nameof(AttachReplica);
        if (Rules.Blank(c.DiskId)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.DiskId)));
        if (Rules.Blank(c.ReplicaPath)) return Invalid(Rules.MustBeNonEmpty(cmd, nameof(c.ReplicaPath)));

        if (Replicas.TryGetValue(c.DiskId, out var existingPath))
        {
            return existingPath == c.ReplicaPath
                ? Decision<IMasterTargetEvent>.NoOp
                : Decision<IMasterTargetEvent>.Reject(RejectionReason.Conflict,
                    $"{cmd}.DiskId '{c.DiskId}' is already attached at '{existingPath}', not '{c.ReplicaPath}'");
        }

        var owner = Replicas.FirstOrDefault(kv => kv.Value == c.ReplicaPath).Key;
        if (owner is not null)
            return Decision<IMasterTargetEvent>.Reject(RejectionReason.Conflict,
                $"{cmd}.ReplicaPath '{c.ReplicaPath}' is already used by disk '{owner}'");

        if (FreeSlots <= 0)
            return Decision<IMasterTargetEvent>.Reject(RejectionReason.OutOfSlots,
                $"{cmd}.DiskId '{c.DiskId}': no usable data-disk slot left ({Replicas.Count} of {UsableSlots} usable slots in use; {RetentionSlots} of {DataDiskSlots} reserved for retention)");

        return Decision<IMasterTargetEvent>.Accept(new ReplicaAttached(c.ServerId, c.DiskId, c.ReplicaPath));
    }

    private Decision<IMasterTargetEvent> DecideDetach(DetachReplica c)
    {
        if (Rules.Blank(c.DiskId)) return Invalid(Rules.MustBeNonEmpty(nameof(DetachReplica), nameof(c.DiskId)));
        return Replicas.ContainsKey(c.DiskId)
            ? Decision<IMasterTargetEvent>.Accept(new ReplicaDetached(c.ServerId, c.DiskId))
            : Decision<IMasterTargetEvent>.NoOp;
    }

    public MasterTargetState Apply(IMasterTargetEvent @event) => @event switch
    {
        MasterTargetRegistered e => this with { Registered = true, TargetOs = e.TargetOs, DataDiskSlots = e.DataDiskSlots },
        ReplicaAttached e => this with { Replicas = Replicas.SetItem(e.DiskId, e.ReplicaPath) },
        ReplicaDetached e => this with { Replicas = Replicas.Remove(e.DiskId) },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown MasterTarget event"),
    };

    public MasterTargetView ToView() => new(
        ServerId, Registered, TargetOs, DataDiskSlots, UsableSlots, FreeSlots,
        Replicas.Select(kv => new ReplicaView(kv.Key, kv.Value)).ToList());

    private static Decision<IMasterTargetEvent> Invalid(string message) =>
        Decision<IMasterTargetEvent>.Reject(RejectionReason.InvalidArgument, message);
}
