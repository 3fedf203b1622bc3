using System.Globalization;
using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Node.Access;
using SiteRecovery.Node.Failover;

namespace SiteRecovery.Node.Api;

/// <summary>POST /api/failovers: fail a plan's machines over (<c>autoRollbackSeconds</c>: a planned failover's commit policy). <paramref name="Point"/>: latest (default), latest-processed, latest-app, latest-group (the newest multi-VM consistent point), a recovery point's name, or use <paramref name="Time"/>.</summary>
public sealed record FailoverBody(string? Plan, string? Kind, string? Point, string? Time, int? TtlSeconds)
{
    /// <summary>A planned failover's commit policy: rolled back by itself when not committed this many seconds after it completed.</summary>
    public int? AutoRollbackSeconds { get; init; }
}
public sealed record FailoverStartedResponse(string JobId, string Plan, string Kind, string Point, IReadOnlyList<FailoverStepPlan> Steps);
public sealed record CommentBody(string? Comment);
public sealed record CleanupBody(string? Reason);
public sealed record PointBody(string? Point, string? Time);
/// <summary>POST /api/failovers/{id}/reprotect: the original site's process server (HOST:PORT) and the API URL of its master target's node.</summary>
public sealed record ReprotectBody(string? ProcessServer, string? Api);
/// <summary>POST /api/failovers/{id}/failback: <paramref name="Return"/> (default true) starts the machines at the original site once it holds every write.</summary>
public sealed record FailbackBody(bool? Return);
public sealed record FailoverListItem(string JobId, string PlanId, FailoverKind Kind, FailoverJobStatus Status, int StepsDone, int Steps, string? Current, long RequestedUnixMs, bool? DrillPassed);

/// <summary>Failover jobs: start one from a recovery plan, follow its steps, answer its manual actions, retry or skip a failed step, clean up, read the drill report and each machine's console.</summary>
public static class FailoverEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public static void Map(WebApplication app, NodeOptions options)
    {
        var api = app.MapGroup("/api/failovers");
        api.AddEndpointFilter(async (ctx, next) => options.Roles.HasFlag(NodeRoles.Configuration) && options.Roles.HasFlag(NodeRoles.MasterTarget)
            ? await next(ctx)
            : Results.BadRequest(new ApiError("failover runs on a node with the configuration and master-target roles")));

        api.MapPost("", async (FailoverBody body, HttpContext http, ActorRegistry r, NodeFailoverEffects effects, FailoverSettings settings, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(body.Plan)) return Results.BadRequest(new ApiError("plan: required (a recovery plan id)"));
            var kind = (body.Kind ?? "test").ToLowerInvariant();
            if (kind is not ("test" or "planned" or "unplanned"))
                return Results.BadRequest(new ApiError($"kind: '{body.Kind}' is not a failover kind (test, planned, unplanned)"));
            // A test failover leaves production where it runs; a planned or unplanned one moves it.
            if (kind != "test" && ApiCaller.Demand(http, ApiRole.RecoveryAdmin, $"a {kind} failover") is { } forbidden) return forbidden;
            if (kind == "planned" && (body.Point is not null || body.Time is not null))
                return Results.BadRequest(new ApiError("point: a planned failover recovers to the final point it takes itself once the source is stopped and drained; give no point or time"));
            var (choice, pointError) = ParsePoint(body.Point, body.Time);
            if (pointError is not null) return Results.BadRequest(new ApiError(pointError));
            var point = choice!;
            if (body.TtlSeconds is not null && kind != "test")
                return Results.BadRequest(new ApiError($"ttlSeconds: applies to a test failover only (a {kind} failover is never rolled back by itself)"));
            if (body.TtlSeconds is { } ttl && (ttl < StartFailoverJob.MinTtlSeconds || ttl > StartFailoverJob.MaxTtlSeconds))
                return Results.BadRequest(new ApiError($"ttlSeconds: {ttl} is outside {StartFailoverJob.MinTtlSeconds}..{StartFailoverJob.MaxTtlSeconds}"));
            var autoRollbackMinimum = (int)settings.AutoRollbackMinimum.TotalSeconds;
            if (FailoverJobState.AutoRollbackError(Enum.Parse<FailoverKind>(kind, ignoreCase: true), body.AutoRollbackSeconds, autoRollbackMinimum) is { } policy)
                return Results.BadRequest(new ApiError($"autoRollbackSeconds: {policy}"));

            var plan = await r.Get<RecoveryPlansRegion>().Ask<RecoveryPlanView>(new GetRecoveryPlan(body.Plan), AskTimeout, ct);
            if (!plan.Exists) return Results.NotFound(new ApiError($"plan: recovery plan '{body.Plan}' does not exist"));
            var machines = plan.Groups.SelectMany(g => g.Machines).ToList();
            var known = await effects.DisksByMachineAsync(ct);
            var unknown = machines.Where(m => !known.ContainsKey(m)).ToList();
            if (unknown.Count > 0)
                return Results.NotFound(new ApiError($"plan {plan.PlanId}: machine(s) {string.Join(", ", unknown)} have no replicated disk on this master target"));
            // The point is checked before anything starts, so a point that does not exist is a clear refusal, not a failed job.
            if (kind != "planned")
                try { await effects.ResolvePointsAsync(machines, point, ct); }
                catch (InvalidOperationException e) { return Results.BadRequest(new ApiError($"point: {e.Message}")); }

            var failoverKind = Enum.Parse<FailoverKind>(kind, ignoreCase: true);
            var jobId = $"{kind}-{plan.PlanId}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("n")[..4]}";
            if (failoverKind == FailoverKind.Planned) point = new FailoverPointChoice("bookmark", Bookmark: $"planned-{jobId}");
            var opened = await r.Get<FailoverDirectoryKey>().Ask<CommandResult>(new OpenFailover(jobId, plan.PlanId, failoverKind, machines, Now), AskTimeout, ct);
            if (opened is CommandResult.Rejected refused) return ControlPlaneEndpoints.Result(refused);
            var steps = FailoverSteps.Build(plan.Groups, failoverKind);
            var started = await r.Get<FailoverJobsRegion>().Ask<CommandResult>(
                new StartFailoverJob(jobId, plan.PlanId, plan.Version, failoverKind, point, steps, machines, Now, body.TtlSeconds,
                    body.AutoRollbackSeconds, autoRollbackMinimum), AskTimeout, ct);
            if (started is CommandResult.Rejected notStarted)
            {
                r.Get<FailoverDirectoryKey>().Tell(new CloseFailover(jobId));
                return ControlPlaneEndpoints.Result(notStarted);
            }
            return Results.Accepted($"/api/failovers/{jobId}", new FailoverStartedResponse(jobId, plan.PlanId, kind, point.ToString(), steps));
        });

        api.MapGet("", async (ActorRegistry r, CancellationToken ct) =>
        {
            var list = await r.Get<FailoverDirectoryKey>().Ask<FailoverList>(new ListFailovers(), AskTimeout, ct);
            var items = new List<FailoverListItem>();
            foreach (var job in list.Jobs)
            {
                var v = await JobAsync(r, job.JobId, ct);
                items.Add(new FailoverListItem(job.JobId, job.PlanId, job.Kind, v.Status, v.Steps.Count(s => s.State is FailoverStepState.Succeeded or FailoverStepState.Skipped),
                    v.Steps.Count, v.Steps.FirstOrDefault(s => s.State == FailoverStepState.Running)?.Plan.Name, v.RequestedUnixMs, v.Report?.Passed));
            }
            return Results.Ok(items);
        });

        api.MapGet("/{id}", async (string id, ActorRegistry r, CancellationToken ct) =>
            await JobAsync(r, id, ct) is { Exists: true } v ? Results.Ok(v) : Results.NotFound(new ApiError($"failover job '{id}' does not exist")));

        api.MapGet("/{id}/report", async (string id, ActorRegistry r, CancellationToken ct) =>
        {
            var v = await JobAsync(r, id, ct);
            if (!v.Exists) return Results.NotFound(new ApiError($"failover job '{id}' does not exist"));
            return v.Report is { } report ? Results.Ok(report) : Results.NotFound(new ApiError($"failover job '{id}' has no drill report (yet): it is {v.Status}"));
        });

        api.MapPost("/{id}/manual-actions/{index:int}/confirm", async (string id, int index, CommentBody? body, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new ConfirmManualAction(id, index, body?.Comment ?? "", Now), AskTimeout, ct)));

        api.MapPost("/{id}/steps/{index:int}/retry", async (string id, int index, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new RetryFailoverStep(id, index, Now), AskTimeout, ct)));

        api.MapPost("/{id}/steps/{index:int}/skip", async (string id, int index, CommentBody? body, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new SkipFailoverStep(id, index, body?.Comment ?? "", Now), AskTimeout, ct)));

        api.MapPost("/{id}/commit", async (string id, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new CommitFailover(id, Now), AskTimeout, ct)));

        api.MapPost("/{id}/rollback", async (string id, CleanupBody? body, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new RollbackFailover(id, string.IsNullOrWhiteSpace(body?.Reason) ? "asked by an operator" : body.Reason, Now), AskTimeout, ct)));

        api.MapPost("/{id}/change-point", async (string id, PointBody body, ActorRegistry r, NodeFailoverEffects effects, CancellationToken ct) =>
        {
            var (point, error) = ParsePoint(body.Point, body.Time);
            if (error is not null) return Results.BadRequest(new ApiError(error));
            var job = await JobAsync(r, id, ct);
            if (!job.Exists) return Results.NotFound(new ApiError($"failover job '{id}' does not exist"));
            // The resolve step lists every machine of the job.
            try { await effects.ResolvePointsAsync(job.Steps[0].Plan.Machines, point!, ct); }
            catch (InvalidOperationException e) { return Results.BadRequest(new ApiError($"point: {e.Message}")); }
            return ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new ChangeFailoverPoint(id, point!, Now), AskTimeout, ct));
        });

        api.MapPost("/{id}/cleanup", async (string id, CleanupBody? body, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new CleanupFailover(id, string.IsNullOrWhiteSpace(body?.Reason) ? "cleanup asked by an operator" : body.Reason, Now), AskTimeout, ct)));

        api.MapPost("/{id}/reprotect", async (string id, ReprotectBody body, ActorRegistry r, PeerTokens peers, CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(body.ProcessServer)) return Results.BadRequest(new ApiError("processServer: required (the original site's process server, HOST:PORT)"));
            if (string.IsNullOrWhiteSpace(body.Api)) return Results.BadRequest(new ApiError("api: required (the API URL of the node running the original site's master target)"));
            // The failback that follows calls that site's API; without its token it would fail only then, after the reprotect.
            // Asked of a job the reprotect would go ahead for: any other gets the job's own refusal (not committed, unknown).
            if ((await JobAsync(r, id, ct)).Status == FailoverJobStatus.Committed && peers.Missing(body.Api.Trim()) is { } noToken)
                return Results.BadRequest(new ApiError($"api: {noToken}"));
            return ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new ReprotectFailover(id, new ReverseTarget(body.ProcessServer.Trim(), body.Api.Trim()), Now), AskTimeout, ct));
        });

        // By default the machines then start at the original site; "return": false leaves their disks there for the operator.
        api.MapPost("/{id}/failback", async (string id, FailbackBody? body, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new FailbackFailover(id, Now, body?.Return ?? true), AskTimeout, ct)));

        api.MapPost("/{id}/return", async (string id, ActorRegistry r, CancellationToken ct) =>
            ControlPlaneEndpoints.Result(await r.Get<FailoverJobsRegion>().Ask<CommandResult>(new ReturnMachines(id, Now), AskTimeout, ct)));

        api.MapGet("/{id}/machines/{machine}/console", async (string id, string machine, int? lines, ActorRegistry r, CancellationToken ct) =>
        {
            var v = await JobAsync(r, id, ct);
            if (!v.Exists) return Results.NotFound(new ApiError($"failover job '{id}' does not exist"));
            var m = v.Machines.FirstOrDefault(x => x.MachineId == machine);
            if (m is null) return Results.NotFound(new ApiError($"failover job '{id}' started no machine '{machine}' (started: {string.Join(", ", v.Machines.Select(x => x.MachineId).DefaultIfEmpty("none"))})"));
            if (!File.Exists(m.ConsolePath)) return Results.NotFound(new ApiError($"the console of {machine} ({m.ConsolePath}) is gone"));
            var text = await ReadSharedAsync(m.ConsolePath, ct);
            var all = text.Split('\n');
            var take = Math.Clamp(lines ?? 200, 1, 100_000);
            return Results.Text(string.Join('\n', all.Skip(Math.Max(0, all.Length - take))), "text/plain; charset=utf-8");
        });
    }

    /// <summary>A point by name (latest, latest-processed, latest-app, latest-group, or a recovery point's name) or by time, not both.</summary>
    static (FailoverPointChoice? Point, string? Error) ParsePoint(string? point, string? time)
    {
        if (time is null)
            return ((point ?? "latest") switch
            {
                "latest" or "latest-processed" or "latest-app" or "latest-group" => new FailoverPointChoice(point ?? "latest"),
                var name => new FailoverPointChoice("bookmark", Bookmark: name),
            }, null);
        if (point is not null) return (null, "give point or time, not both");
        return DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? (new FailoverPointChoice("time", Time: t), null)
            : (null, $"time: '{time}' is not an ISO-8601 timestamp");
    }

    static async Task<string> ReadSharedAsync(string path, CancellationToken ct)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(f);
        return await reader.ReadToEndAsync(ct);
    }

    static Task<FailoverJobView> JobAsync(ActorRegistry r, string id, CancellationToken ct) =>
        r.Get<FailoverJobsRegion>().Ask<FailoverJobView>(new GetFailoverJob(id), AskTimeout, ct);
}
