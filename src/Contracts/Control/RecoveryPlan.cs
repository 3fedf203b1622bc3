namespace SiteRecovery.Contracts.Control;

/// <summary>
/// One step an operator or the node runs before or after a boot group starts. Flat on purpose (one JSON shape, no
/// polymorphism); the rules are enforced by the RecoveryPlan aggregate (<c>RecoveryPlanValidation</c>):
/// <list type="bullet">
/// <item><see cref="Kind"/>: <c>manual</c> (the failover waits for an operator, who is shown <see cref="Instructions"/>)
/// or <c>script</c> (the node runs <see cref="Script"/> from its root-owned scripts folder).</item>
/// <item><see cref="Name"/>: non-blank, at most 128 characters, no control characters, unique within the plan.</item>
/// <item><see cref="Instructions"/>: required for a manual action (at most 4096 characters); an optional note for a script.</item>
/// <item><see cref="Script"/>: required for a script action and absent for a manual one: a file NAME only,
/// <c>[A-Za-z0-9._-]{1,64}</c>, neither <c>.</c> nor <c>..</c>.</item>
/// <item><see cref="TimeoutSeconds"/>: the failover's limit on the action, 1..3600; absent = 300 (the plan stores 300).</item>
/// </list>
/// </summary>
public sealed record PlanAction(string Kind, string Name, string? Instructions, string? Script, int? TimeoutSeconds)
{
    public const string Manual = "manual";
    public const string ScriptKind = "script";
    public const int DefaultTimeoutSeconds = 300;
}

/// <summary>
/// Machines that boot together, after every earlier group of the plan: first the <see cref="Pre"/> actions in order,
/// then the machines, then the <see cref="Post"/> actions in order. Equality compares the lists element by element.
/// </summary>
public sealed record BootGroup(IReadOnlyList<string> Machines, IReadOnlyList<PlanAction> Pre, IReadOnlyList<PlanAction> Post)
{
    public bool Equals(BootGroup? other) =>
        other is not null && Same(Machines, other.Machines) && Same(Pre, other.Pre) && Same(Post, other.Post);

    public override int GetHashCode() => HashCode.Combine(Machines?.Count ?? -1, Pre?.Count ?? -1, Post?.Count ?? -1);

    private static bool Same<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.SequenceEqual(b));
}

/// <summary>Why a plan command was rejected; one value per rule of <c>RecoveryPlanValidation</c>.</summary>
public enum RecoveryPlanValidationReason
{
    InvalidPlanId,
    InvalidVault,
    InvalidDescription,
    NoGroups,
    InvalidGroup,
    EmptyGroup,
    InvalidMachineId,
    DuplicateMachine,
    InvalidAction,
    InvalidActionKind,
    InvalidActionName,
    DuplicateActionName,
    MissingInstructions,
    InvalidInstructions,
    MissingScript,
    InvalidScript,
    InvalidTimeout,
    /// <summary><see cref="SetDrillSchedule.DrillEvery"/> is not positive, under the node's minimum or over a year.</summary>
    InvalidDrillInterval,
    /// <summary><see cref="SetDrillSchedule.DrillTtl"/> is outside the failover job's time-to-live bounds, or given without an interval.</summary>
    InvalidDrillTtl,
}

/// <summary>One broken plan rule: the reason, the field (e.g. <c>Groups[2].Machines[0]</c>) and a message naming field and rule.</summary>
public sealed record RecoveryPlanValidationFailure(RecoveryPlanValidationReason Reason, string Field, string Message);

/// <summary>Any message for a RecoveryPlan entity (identity: plan id).</summary>
public interface IRecoveryPlanMessage : IEntityMessage
{
    string PlanId { get; }
    string IEntityMessage.EntityId => PlanId;
}

public interface IRecoveryPlanCommand : IRecoveryPlanMessage;

// ---- commands ----
/// <summary>
/// Creates the plan in <paramref name="Vault"/> (the API checks that the vault exists). Creating it again with the same
/// vault, description and groups is an idempotent no-op; with anything else it is rejected Conflict. A deleted plan id
/// can be created again; its <see cref="RecoveryPlanView.Version"/> keeps counting.
/// </summary>
public sealed record CreateRecoveryPlan(string PlanId, string Vault, string? Description, IReadOnlyList<BootGroup> Groups, long NowUnixMs)
    : IRecoveryPlanCommand;

/// <summary>
/// Replaces the groups (and the description, when one is given) and bumps the version; the same content is a no-op.
/// With <paramref name="ExpectedVersion"/> the update is rejected Conflict unless the plan is at that version.
/// </summary>
public sealed record UpdateRecoveryPlan(string PlanId, string? Description, IReadOnlyList<BootGroup> Groups, long NowUnixMs, long? ExpectedVersion = null)
    : IRecoveryPlanCommand;

/// <summary>Deletes the plan; deleting a deleted plan is a no-op, a plan never created is NotRegistered.</summary>
public sealed record DeleteRecoveryPlan(string PlanId, long NowUnixMs) : IRecoveryPlanCommand;

/// <summary>
/// Sets (or, with a null <paramref name="DrillEvery"/>, removes) the plan's drill schedule: a test failover to the
/// <c>latest</c> point every <paramref name="DrillEvery"/> (counted from the plan's last test failover, scheduled or not,
/// else from when the schedule was set), whose machines run for <paramref name="DrillTtl"/> (absent = 30 minutes) before
/// the job cleans itself up. <paramref name="MinimumEvery"/>: the node's lower bound on the interval (absent = 1 hour;
/// HOCON <c>siterecovery.failover.drill-minimum-interval</c>). Setting the schedule the plan has is a no-op.
/// </summary>
public sealed record SetDrillSchedule(string PlanId, TimeSpan? DrillEvery, TimeSpan? DrillTtl, long NowUnixMs, TimeSpan? MinimumEvery = null)
    : IRecoveryPlanCommand
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(30);
    public static readonly TimeSpan DefaultMinimumEvery = TimeSpan.FromHours(1);
    public static readonly TimeSpan MaximumEvery = TimeSpan.FromDays(366);
}

// ---- query ----
public sealed record GetRecoveryPlan(string PlanId) : IRecoveryPlanMessage;

/// <summary>
/// A plan as stored: groups in boot order with their actions (timeouts filled in). <see cref="Version"/> counts every
/// accepted change of this plan id (create, update, delete) and never goes back; 0 = never created.
/// </summary>
public sealed record RecoveryPlanView(
    string PlanId,
    bool Exists,
    string? Vault,
    string? Description,
    IReadOnlyList<BootGroup> Groups,
    long Version,
    long CreatedUnixMs,
    long UpdatedUnixMs)
{
    /// <summary>How often the plan is drilled by itself (null: only when someone starts a test failover).</summary>
    public TimeSpan? DrillEvery { get; init; }

    /// <summary>How long a scheduled drill's machines run before its cleanup (set whenever <see cref="DrillEvery"/> is).</summary>
    public TimeSpan? DrillTtl { get; init; }
}

/// <summary>Query of the recovery-plan directory (singleton); reply <see cref="RecoveryPlanList"/>.</summary>
public sealed record ListRecoveryPlans
{
    public static ListRecoveryPlans Instance { get; } = new();
}

public sealed record RecoveryPlanListing(string PlanId, string Vault);

/// <summary>Existing plans ordered by id.</summary>
public sealed record RecoveryPlanList(IReadOnlyList<RecoveryPlanListing> Plans);

// ---- events ----
public interface IRecoveryPlanEvent : IControlEvent
{
    string PlanId { get; }
}

/// <summary>Groups are stored normalized: non-null action lists, every timeout filled in.</summary>
[Manifest("recovery-plan-created.v1")]
public sealed record RecoveryPlanCreated(string PlanId, string Vault, string? Description, IReadOnlyList<BootGroup> Groups, long AtUnixMs)
    : IRecoveryPlanEvent;

[Manifest("recovery-plan-updated.v1")]
public sealed record RecoveryPlanUpdated(string PlanId, string? Description, IReadOnlyList<BootGroup> Groups, long AtUnixMs) : IRecoveryPlanEvent;

/// <summary>The drill schedule as stored: both null (no schedule) or both set (the TTL defaulted).</summary>
[Manifest("recovery-plan-drill-schedule-set.v1")]
public sealed record RecoveryPlanDrillScheduleSet(string PlanId, TimeSpan? DrillEvery, TimeSpan? DrillTtl, long AtUnixMs) : IRecoveryPlanEvent;

[Manifest("recovery-plan-deleted.v1")]
public sealed record RecoveryPlanDeleted(string PlanId, long AtUnixMs) : IRecoveryPlanEvent;

/// <summary>Events of the singleton recovery-plan directory.</summary>
public interface IRecoveryPlanDirectoryEvent : IControlEvent;

[Manifest("recovery-plan-directory-listed.v1")]
public sealed record RecoveryPlanListed(string PlanId, string Vault) : IRecoveryPlanDirectoryEvent;

[Manifest("recovery-plan-directory-unlisted.v1")]
public sealed record RecoveryPlanUnlisted(string PlanId) : IRecoveryPlanDirectoryEvent;
