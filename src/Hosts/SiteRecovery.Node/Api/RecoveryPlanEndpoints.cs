using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Control.Registration;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>
/// Recovery plans: which machines boot together, in which order, and the manual or script actions before and after each
/// group. Only on nodes with the configuration role. Every rejection is <c>{"error": ...}</c> naming field and rule, and
/// writes nothing: 400 for a broken rule, 404 for an unknown plan or vault, 409 for a conflicting create or update.
/// </summary>
public static class RecoveryPlanEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public sealed record CreatePlanBody(string? PlanId, string? Vault, string? Description, BootGroup[]? Groups);

    /// <summary>Replaces the groups; a null description keeps the current one; with expectedVersion the update is refused (409) unless the plan is at it.</summary>
    public sealed record UpdatePlanBody(string? Description, BootGroup[]? Groups, long? ExpectedVersion);

    /// <summary>Drill every <c>everySeconds</c> (null: remove the schedule), machines kept <c>ttlSeconds</c> (absent: 1800) before cleanup.</summary>
    public sealed record DrillScheduleBody(long? EverySeconds, long? TtlSeconds);

    public static void Map(WebApplication app, NodeOptions options)
    {
        var plans = app.MapGroup("/api/recovery-plans");
        plans.AddEndpointFilter(async (ctx, next) => options.Roles.HasFlag(NodeRoles.Configuration)
            ? await next(ctx)
            : Results.BadRequest(new ApiError("this node does not run the configuration role")));

        plans.MapPost("", async (CreatePlanBody body, ActorRegistry r) =>
        {
            if (body.PlanId is null) return Results.BadRequest(new ApiError("planId: required"));
            if (BadId(body.PlanId) is { } badId) return badId;
            if (await VaultProblem(body.Vault, r) is { } badVault) return badVault;
            var command = new CreateRecoveryPlan(body.PlanId, body.Vault!, body.Description, body.Groups ?? [], Now);
            return ControlPlaneEndpoints.Result(await r.Get<RecoveryPlansRegion>().Ask<CommandResult>(command, AskTimeout));
        });
        plans.MapGet("", async (ActorRegistry r) =>
            Results.Ok(await r.Get<RecoveryPlanDirectory>().Ask<RecoveryPlanList>(ListRecoveryPlans.Instance, AskTimeout)));
        plans.MapGet("/{id}", async (string id, ActorRegistry r) =>
        {
            if (BadId(id) is { } badId) return badId;
            var view = await r.Get<RecoveryPlansRegion>().Ask<RecoveryPlanView>(new GetRecoveryPlan(id), AskTimeout);
            return view.Exists ? Results.Ok(view) : NotFound(view);
        });
        plans.MapPut("/{id}", async (string id, UpdatePlanBody body, ActorRegistry r) =>
        {
            if (BadId(id) is { } badId) return badId;
            var command = new UpdateRecoveryPlan(id, body.Description, body.Groups ?? [], Now, body.ExpectedVersion);
            return ControlPlaneEndpoints.Result(await r.Get<RecoveryPlansRegion>().Ask<CommandResult>(command, AskTimeout));
        });
        // The node's minimum interval goes with the command, so the plan's own rules name a too-frequent schedule.
        plans.MapPut("/{id}/drill-schedule", async (string id, DrillScheduleBody body, ActorRegistry r, SiteRecovery.Node.Failover.FailoverSettings failover) =>
        {
            if (BadId(id) is { } badId) return badId;
            if (body.EverySeconds is < 1 or > 366L * 24 * 3600) return Results.BadRequest(new ApiError($"everySeconds: {body.EverySeconds} is outside 1..{366L * 24 * 3600}"));
            if (body.TtlSeconds is < 1 or > 366L * 24 * 3600) return Results.BadRequest(new ApiError($"ttlSeconds: {body.TtlSeconds} is outside 1..{366L * 24 * 3600}"));
            var command = new SetDrillSchedule(id, body.EverySeconds is { } every ? TimeSpan.FromSeconds(every) : null,
                body.TtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : null, Now, failover.DrillMinimumInterval);
            return ControlPlaneEndpoints.Result(await r.Get<RecoveryPlansRegion>().Ask<CommandResult>(command, AskTimeout));
        });
        plans.MapDelete("/{id}", async (string id, ActorRegistry r) =>
        {
            if (BadId(id) is { } badId) return badId;
            return ControlPlaneEndpoints.Result(await r.Get<RecoveryPlansRegion>().Ask<CommandResult>(new DeleteRecoveryPlan(id, Now), AskTimeout));
        });
    }

    // Checked before the plan's entity is started, so a malformed id never becomes a persistence id.
    static IResult? BadId(string id) => RegistrationRules.IsId(id)
        ? null
        : Results.BadRequest(new ApiError($"planId must be {RegistrationRules.IdRule} (was '{id}')"));

    static IResult NotFound(RecoveryPlanView view) => Results.NotFound(new ApiError(view.Version == 0
        ? $"recovery plan '{view.PlanId}' does not exist"
        : $"recovery plan '{view.PlanId}' was deleted (version {view.Version})"));

    /// <summary>The plan's vault must be a created vault: asked of the vault region.</summary>
    static async Task<IResult?> VaultProblem(string? vault, ActorRegistry r)
    {
        if (vault is null) return Results.BadRequest(new ApiError("vault: required"));
        if (!RegistrationRules.IsVaultName(vault))
            return Results.BadRequest(new ApiError($"vault must be {RegistrationRules.VaultNameRule} (was '{vault}')"));
        if (!r.TryGet<VaultsRegion>(out var vaults))
            return Results.BadRequest(new ApiError("this node runs no vaults: the plan's vault cannot be checked"));
        var view = await vaults.Ask<VaultView>(new GetVault(vault), AskTimeout);
        return view.Created ? null : Results.NotFound(new ApiError($"vault '{vault}' does not exist"));
    }
}
