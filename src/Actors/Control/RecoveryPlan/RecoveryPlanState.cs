using System.Collections.Immutable;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Actors.Control.RecoveryPlan;

/// <summary>
/// Immutable state of one recovery plan with pure <see cref="Decide"/> and <see cref="Apply"/>.
/// Invariants (checked by RecoveryPlanProperties):
/// <list type="bullet">
/// <item>While <see cref="Exists"/>, <see cref="Groups"/> is the valid, normalized list of the last accepted create or
/// update, in boot order; a machine is in at most one group; action names are unique.</item>
/// <item><see cref="Version"/> grows by one with every persisted event and never goes back (also across delete and
/// re-create); a no-op or a rejection leaves the state as it was.</item>
/// <item>The drill schedule is both null or both set: <see cref="DrillEvery"/> within the minimum given with
/// <see cref="SetDrillSchedule"/> (1 hour by default) and <see cref="SetDrillSchedule.MaximumEvery"/>, <see cref="DrillTtl"/>
/// within the failover job's time-to-live bounds. A delete removes it; an update keeps it.</item>
/// <item>Apply never validates: old journals replay as written.</item>
/// </list>
/// </summary>
[Manifest("recovery-plan-state.v1")]
public sealed record RecoveryPlanState(
    string PlanId,
    bool Exists,
    string? Vault,
    string? Description,
    ImmutableList<BootGroup> Groups,
    long Version,
    long CreatedUnixMs,
    long UpdatedUnixMs)
    : IControlSnapshot, IAggregateState<RecoveryPlanState, IRecoveryPlanCommand, IRecoveryPlanEvent>
{
    /// <summary>How often the plan is drilled by itself; null = no schedule.</summary>
    public TimeSpan? DrillEvery { get; init; }

    /// <summary>How long a scheduled drill's machines run before its cleanup; set whenever <see cref="DrillEvery"/> is.</summary>
    public TimeSpan? DrillTtl { get; init; }

    public static RecoveryPlanState Empty(string planId) => new(planId, false, null, null, [], 0, 0, 0);

    /// <summary>What the plan directory should list for this plan: null when it does not exist.</summary>
    public RecoveryPlanListing? Listing => Exists ? new RecoveryPlanListing(PlanId, Vault!) : null;

    public Decision<IRecoveryPlanEvent> Decide(IRecoveryPlanCommand command)
    {
        if (!Exists && command is not CreateRecoveryPlan && !(command is DeleteRecoveryPlan && Version > 0))
            return Decision<IRecoveryPlanEvent>.Reject(RejectionReason.NotRegistered,
                $"{command.GetType().Name}.PlanId '{command.PlanId}' is not an existing recovery plan; send CreateRecoveryPlan first");

        return command switch
        {
            CreateRecoveryPlan c => DecideCreate(c),
            UpdateRecoveryPlan c => DecideUpdate(c),
            SetDrillSchedule c => DecideDrillSchedule(c),
            DeleteRecoveryPlan c => Exists
                ? Decision<IRecoveryPlanEvent>.Accept(new RecoveryPlanDeleted(PlanId, c.NowUnixMs))
                : Decision<IRecoveryPlanEvent>.NoOp,
            _ => Invalid($"Command type {command.GetType().Name} is not handled by RecoveryPlan"),
        };
    }

    private Decision<IRecoveryPlanEvent> DecideCreate(CreateRecoveryPlan c)
    {
        const string cmd = nameof(CreateRecoveryPlan) + ".";
        var failures = RecoveryPlanValidation.Validate(c.PlanId, c.Vault ?? "", c.Description, c.Groups, cmd);
        if (failures.Count > 0) return Invalid($"{nameof(CreateRecoveryPlan)} rejected for plan '{c.PlanId}': {RecoveryPlanValidation.Describe(failures)}");
        if (c.PlanId != PlanId) return Invalid($"{cmd}PlanId '{c.PlanId}' was sent to plan '{PlanId}'");

        var groups = RecoveryPlanValidation.Normalize(c.Groups);
        if (Exists)
        {
            return Vault == c.Vault && Description == c.Description && RecoveryPlanValidation.SameGroups(Groups, groups)
                ? Decision<IRecoveryPlanEvent>.NoOp
                : Decision<IRecoveryPlanEvent>.Reject(RejectionReason.Conflict,
                    $"{cmd}PlanId '{c.PlanId}' already exists (vault '{Vault}', version {Version}) with different content; use UpdateRecoveryPlan");
        }

        return Decision<IRecoveryPlanEvent>.Accept(new RecoveryPlanCreated(PlanId, c.Vault!, c.Description, groups, c.NowUnixMs));
    }

    private Decision<IRecoveryPlanEvent> DecideUpdate(UpdateRecoveryPlan c)
    {
        const string cmd = nameof(UpdateRecoveryPlan) + ".";
        var failures = RecoveryPlanValidation.Validate(c.PlanId, null, c.Description, c.Groups, cmd);
        if (failures.Count > 0) return Invalid($"{nameof(UpdateRecoveryPlan)} rejected for plan '{c.PlanId}': {RecoveryPlanValidation.Describe(failures)}");
        if (c.ExpectedVersion is { } expected && expected != Version)
            return Decision<IRecoveryPlanEvent>.Reject(RejectionReason.Conflict,
                $"{cmd}ExpectedVersion {expected} does not match plan '{PlanId}' at version {Version}");

        var groups = RecoveryPlanValidation.Normalize(c.Groups);
        var description = c.Description ?? Description;
        return description == Description && RecoveryPlanValidation.SameGroups(Groups, groups)
            ? Decision<IRecoveryPlanEvent>.NoOp
            : Decision<IRecoveryPlanEvent>.Accept(new RecoveryPlanUpdated(PlanId, description, groups, c.NowUnixMs));
    }

    private Decision<IRecoveryPlanEvent> DecideDrillSchedule(SetDrillSchedule c)
    {
        var failures = RecoveryPlanValidation.ValidateDrillSchedule(c.DrillEvery, c.DrillTtl, c.MinimumEvery ?? SetDrillSchedule.DefaultMinimumEvery,
            nameof(SetDrillSchedule) + ".");
        if (failures.Count > 0) return Invalid($"{nameof(SetDrillSchedule)} rejected for plan '{c.PlanId}': {RecoveryPlanValidation.Describe(failures)}");
        TimeSpan? ttl = c.DrillEvery is null ? null : c.DrillTtl ?? SetDrillSchedule.DefaultTtl;
        return c.DrillEvery == DrillEvery && ttl == DrillTtl
            ? Decision<IRecoveryPlanEvent>.NoOp
            : Decision<IRecoveryPlanEvent>.Accept(new RecoveryPlanDrillScheduleSet(PlanId, c.DrillEvery, ttl, c.NowUnixMs));
    }

    public RecoveryPlanState Apply(IRecoveryPlanEvent @event) => @event switch
    {
        RecoveryPlanCreated e => this with
        {
            Exists = true, Vault = e.Vault, Description = e.Description, Groups = [.. e.Groups],
            Version = Version + 1, CreatedUnixMs = e.AtUnixMs, UpdatedUnixMs = e.AtUnixMs,
        },
        RecoveryPlanUpdated e => this with { Description = e.Description, Groups = [.. e.Groups], Version = Version + 1, UpdatedUnixMs = e.AtUnixMs },
        RecoveryPlanDrillScheduleSet e => this with { DrillEvery = e.DrillEvery, DrillTtl = e.DrillTtl, Version = Version + 1, UpdatedUnixMs = e.AtUnixMs },
        RecoveryPlanDeleted e => this with
        {
            Exists = false, Groups = [], DrillEvery = null, DrillTtl = null, Version = Version + 1, UpdatedUnixMs = e.AtUnixMs,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "Unknown RecoveryPlan event"),
    };

    public RecoveryPlanView ToView() =>
        new(PlanId, Exists, Vault, Description, Groups, Version, CreatedUnixMs, UpdatedUnixMs) { DrillEvery = DrillEvery, DrillTtl = DrillTtl };

    private static Decision<IRecoveryPlanEvent> Invalid(string message) =>
        Decision<IRecoveryPlanEvent>.Reject(RejectionReason.InvalidArgument, message);
}
