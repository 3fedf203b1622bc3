namespace SiteRecovery.Contracts.Control;

public enum GuestOs { Windows, Linux }

public enum BootType { Bios, Uefi }

/// <summary>
/// Protection life cycle of a machine. <see cref="NotDiscovered"/> is the initial value of an entity that has
/// never been discovered; the legal transitions are the table in <c>ProtectionTransitions</c>.
/// </summary>
public enum ProtectionState
{
    NotDiscovered,
    Discovered,
    Enabling,
    InitialReplication,
    Protected,
    FailoverInProgress,
    FailedOver,
    ReprotectInProgress,
    Disabling,
    Disabled,
}

public sealed record MachineDisk(string DiskId, long SizeBytes);

/// <summary>
/// How the local (qemu) compute target runs the failed-over machine: memory 64..65536 MiB, 1..64 CPUs, firmware
/// <c>bios</c> or <c>uefi</c>. A machine that never had them set runs with <see cref="Default"/> (256 MiB, 1 CPU, bios);
/// members missing from a JSON body take these defaults too.
/// </summary>
public sealed record LocalComputeSettings(int MemoryMiB = 256, int Cpus = 1, string Firmware = LocalComputeSettings.Bios)
{
    public const string Bios = "bios";
    public const string Uefi = "uefi";
    public const int MinMemoryMiB = 64;
    public const int MaxMemoryMiB = 65536;
    public const int MinCpus = 1;
    public const int MaxCpus = 64;

    public static LocalComputeSettings Default { get; } = new();
}

/// <summary>
/// What discovery found about a machine plus the failover (target-side) settings. <see cref="StaticAddress"/> and
/// <see cref="Local"/> came with <see cref="FailoverPropertiesChangedV2"/>: journals and snapshots written before them
/// read as no static address and <see cref="LocalComputeSettings.Default"/>.
/// </summary>
public sealed record MachineProperties(
    string Name,
    GuestOs Os,
    IReadOnlyList<MachineDisk> Disks,
    BootType BootType,
    bool Clustered,
    bool HasBitLockerVolumes,
    string FailoverName,
    string FailoverVmSize,
    string FailoverNetwork)
{
    /// <summary>IPv4 or IPv6 address the failed-over machine gets; null = the target network assigns one.</summary>
    public string? StaticAddress { get; init; }

    /// <summary>Settings of the local (qemu) compute target; never null.</summary>
    public LocalComputeSettings Local { get; init; } = LocalComputeSettings.Default;

    /// <summary>The compute target the machine fails over to, as the node names its targets (<c>local</c>, <c>azure</c>); absent in older journals: <c>local</c>.</summary>
    public string Target { get; init; } = "local";

    /// <summary>Structural equality, disks compared element by element (so a JSON round trip compares equal).</summary>
    public bool Equals(MachineProperties? other) =>
        other is not null
        && Name == other.Name && Os == other.Os && BootType == other.BootType && Clustered == other.Clustered
        && HasBitLockerVolumes == other.HasBitLockerVolumes && FailoverName == other.FailoverName
        && FailoverVmSize == other.FailoverVmSize && FailoverNetwork == other.FailoverNetwork
        && StaticAddress == other.StaticAddress && Local == other.Local && Target == other.Target
        && (ReferenceEquals(Disks, other.Disks) || (Disks is not null && other.Disks is not null && Disks.SequenceEqual(other.Disks)));

    public override int GetHashCode() => HashCode.Combine(Name, Os, BootType, Clustered, HasBitLockerVolumes, FailoverName, Disks?.Count ?? -1);
}

/// <summary>Why a machine cannot be protected; one value per rule of <c>MachineValidation</c>.</summary>
public enum MachineValidationReason
{
    NoDisks,
    TooManyDisks,
    InvalidDisk,
    DuplicateDiskId,
    DiskTooLarge,
    ClusteredServer,
    UefiBoot,
    BitLockerVolumes,
    UnsupportedOs,
    InvalidFailoverName,
    MissingFailoverVmSize,
    MissingFailoverNetwork,
    InvalidStaticAddress,
    InvalidLocalMemory,
    InvalidLocalCpus,
    InvalidLocalFirmware,
}

/// <summary>One broken rule: the reason, the field (e.g. <c>Disks[3].SizeBytes</c>) and a message naming the rule.</summary>
public sealed record ValidationFailure(MachineValidationReason Reason, string Field, string Message);

/// <summary>Where the disks of one machine go: all on one master target, churn through one process server.</summary>
public sealed record PlacementDecision(string MasterTargetId, string ProcessServerId);

/// <summary>Any message for a ProtectedMachine entity (identity: machine id).</summary>
public interface IProtectedMachineMessage : IEntityMessage
{
    string MachineId { get; }
    string IEntityMessage.EntityId => MachineId;
}

public interface IProtectedMachineCommand : IProtectedMachineMessage;

// ---- commands ----
/// <summary>
/// Records (or, while Discovered/after Disabled, refreshes) what discovery found. Machines that cannot be protected
/// are still discovered; validation runs on <see cref="EnableProtection"/>, before anything is installed.
/// </summary>
public sealed record DiscoverMachine(string MachineId, MachineProperties Properties) : IProtectedMachineCommand;

/// <summary>Discovered → Enabling. Rejected with every <see cref="ValidationFailure"/> listed when the machine is not protectable.</summary>
public sealed record EnableProtection(string MachineId, PlacementDecision Placement) : IProtectedMachineCommand;

/// <summary>Enabling → Discovered (installation or replica attachment failed).</summary>
public sealed record AbortEnabling(string MachineId, string Reason) : IProtectedMachineCommand;

/// <summary>Enabling → InitialReplication.</summary>
public sealed record StartInitialReplication(string MachineId) : IProtectedMachineCommand;

/// <summary>InitialReplication → Protected.</summary>
public sealed record CompleteInitialReplication(string MachineId) : IProtectedMachineCommand;

/// <summary>Protected → FailoverInProgress.</summary>
public sealed record StartFailover(string MachineId) : IProtectedMachineCommand;

/// <summary>FailoverInProgress → FailedOver.</summary>
public sealed record CompleteFailover(string MachineId) : IProtectedMachineCommand;

/// <summary>FailedOver → ReprotectInProgress.</summary>
public sealed record StartReprotect(string MachineId) : IProtectedMachineCommand;

/// <summary>ReprotectInProgress → Protected.</summary>
public sealed record CompleteReprotect(string MachineId) : IProtectedMachineCommand;

/// <summary>Enabling | InitialReplication | Protected | FailedOver → Disabling.</summary>
public sealed record DisableProtection(string MachineId) : IProtectedMachineCommand;

/// <summary>Disabling → Disabled.</summary>
public sealed record CompleteDisable(string MachineId) : IProtectedMachineCommand;

/// <summary>
/// Only while Protected; the name follows the same rule as discovery's failover name. Without <see cref="StaticAddress"/>
/// and <see cref="Local"/> (the original shape) it changes name, size and network only and persists
/// <see cref="FailoverPropertiesChanged"/> (v1). With either it persists <see cref="FailoverPropertiesChangedV2"/> carrying
/// every failover value: an absent member keeps the machine's current value, <see cref="StaticAddress"/> "" removes the
/// static address, and a given <see cref="Local"/> replaces the local settings whole.
/// </summary>
public sealed record ChangeFailoverProperties(string MachineId, string FailoverName, string FailoverVmSize, string FailoverNetwork)
    : IProtectedMachineCommand
{
    /// <summary>IPv4 or IPv6 address; null = keep the current one; "" = none.</summary>
    public string? StaticAddress { get; init; }

    /// <summary>Local (qemu) target settings; null = keep the current ones.</summary>
    public LocalComputeSettings? Local { get; init; }
}

// ---- query ----
public sealed record GetProtectedMachine(string MachineId) : IProtectedMachineMessage;

public sealed record ProtectedMachineView(
    string MachineId,
    ProtectionState State,
    MachineProperties? Properties,
    PlacementDecision? Placement,
    string? LastAbortReason);

// ---- orchestration (ProtectionOrchestrator) ----
/// <summary>
/// Ask the ProtectionOrchestrator to place the machine on one of the candidate master targets / process servers,
/// attach a replica per disk, assign the disks to the process server and move the machine to InitialReplication.
/// </summary>
public sealed record EnableMachineProtection(
    string MachineId,
    double ChurnEstimateMBps,
    IReadOnlyList<string> MasterTargetIds,
    IReadOnlyList<string> ProcessServerIds);

public abstract record EnableMachineProtectionResult(string MachineId)
{
    /// <summary>The machine is in InitialReplication on <paramref name="Placement"/>.</summary>
    public sealed record Enabled(string MachineId, PlacementDecision Placement) : EnableMachineProtectionResult(MachineId);

    /// <summary>Nothing was enabled; the machine is still Discovered (or in the state it was). The message says what to fix.</summary>
    public sealed record Failed(string MachineId, RejectionReason? Reason, string Message) : EnableMachineProtectionResult(MachineId);
}

// ---- events ----
public interface IProtectedMachineEvent : IControlEvent
{
    string MachineId { get; }
}

[Manifest("protected-machine-discovered.v1")]
public sealed record MachineDiscovered(string MachineId, MachineProperties Properties) : IProtectedMachineEvent;

[Manifest("protected-machine-enabling-started.v1")]
public sealed record ProtectionEnablingStarted(string MachineId, PlacementDecision Placement) : IProtectedMachineEvent;

[Manifest("protected-machine-enabling-aborted.v1")]
public sealed record ProtectionEnablingAborted(string MachineId, string Reason) : IProtectedMachineEvent;

[Manifest("protected-machine-initial-replication-started.v1")]
public sealed record InitialReplicationStarted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-initial-replication-completed.v1")]
public sealed record InitialReplicationCompleted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-failover-started.v1")]
public sealed record FailoverStarted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-failover-completed.v1")]
public sealed record FailoverCompleted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-reprotect-started.v1")]
public sealed record ReprotectStarted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-reprotect-completed.v1")]
public sealed record ReprotectCompleted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-disabling-started.v1")]
public sealed record ProtectionDisablingStarted(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-disabled.v1")]
public sealed record ProtectionDisabled(string MachineId) : IProtectedMachineEvent;

[Manifest("protected-machine-failover-properties-changed.v1")]
public sealed record FailoverPropertiesChanged(string MachineId, string FailoverName, string FailoverVmSize, string FailoverNetwork)
    : IProtectedMachineEvent;

/// <summary>
/// Every failover value after the change (not a delta): <see cref="StaticAddress"/> null = none. Apply of the v1 event
/// still works for old journals and leaves StaticAddress and Local as they were.
/// </summary>
[Manifest("protected-machine-failover-properties-changed.v2")]
public sealed record FailoverPropertiesChangedV2(
    string MachineId,
    string FailoverName,
    string FailoverVmSize,
    string FailoverNetwork,
    string? StaticAddress,
    LocalComputeSettings Local)
    : IProtectedMachineEvent;
