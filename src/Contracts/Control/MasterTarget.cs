namespace SiteRecovery.Contracts.Control;

public enum TargetOs { Windows, Linux }

/// <summary>Any message for a MasterTarget entity (identity: server id).</summary>
public interface IMasterTargetMessage : IEntityMessage
{
    string ServerId { get; }
    string IEntityMessage.EntityId => ServerId;
}

public interface IMasterTargetCommand : IMasterTargetMessage;

// ---- commands ----
/// <summary><paramref name="DataDiskSlots"/> must be 16 or 32; one slot is reserved for retention (15 or 31 usable).</summary>
public sealed record RegisterMasterTarget(string ServerId, TargetOs TargetOs, int DataDiskSlots) : IMasterTargetCommand;

/// <summary>Rejected with <see cref="RejectionReason.OutOfSlots"/> when no usable slot is left.</summary>
public sealed record AttachReplica(string ServerId, string DiskId, string ReplicaPath) : IMasterTargetCommand;

/// <summary>Detaching a disk that is not attached is an idempotent no-op.</summary>
public sealed record DetachReplica(string ServerId, string DiskId) : IMasterTargetCommand;

// ---- query ----
public sealed record GetMasterTarget(string ServerId) : IMasterTargetMessage;

public sealed record ReplicaView(string DiskId, string ReplicaPath);

public sealed record MasterTargetView(
    string ServerId,
    bool Registered,
    TargetOs? TargetOs,
    int DataDiskSlots,
    int UsableSlots,
    int FreeSlots,
    IReadOnlyList<ReplicaView> Replicas);

// ---- events ----
public interface IMasterTargetEvent : IControlEvent
{
    string ServerId { get; }
}

[Manifest("master-target-registered.v1")]
public sealed record MasterTargetRegistered(string ServerId, TargetOs TargetOs, int DataDiskSlots) : IMasterTargetEvent;

[Manifest("master-target-replica-attached.v1")]
public sealed record ReplicaAttached(string ServerId, string DiskId, string ReplicaPath) : IMasterTargetEvent;

[Manifest("master-target-replica-detached.v1")]
public sealed record ReplicaDetached(string ServerId, string DiskId) : IMasterTargetEvent;
