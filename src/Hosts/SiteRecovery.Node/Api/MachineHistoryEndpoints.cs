using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Failover;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>
/// GET /api/machines/{id}/failovers: every failover job the machine was in, newest first, each with its status and history
/// lines, and where the machine is now (<see cref="MachineFailoverHistory"/>). A machine no job holds is "not failed over";
/// it need not be a discovered machine (one known only by its agent has no protected-machine entity).
/// </summary>
public static class MachineHistoryEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    public static void Map(WebApplication app, NodeOptions options)
    {
        var api = app.MapGroup("/api/machines");
        api.AddEndpointFilter(async (ctx, next) => options.Roles.HasFlag(NodeRoles.Configuration) && options.Roles.HasFlag(NodeRoles.MasterTarget)
            ? await next(ctx)
            : Results.BadRequest(new ApiError("a machine's failover history is kept on a node with the configuration and master-target roles")));

        api.MapGet("/{id}/failovers", async (string id, ActorRegistry r, CancellationToken ct) =>
        {
            var list = await r.Get<FailoverDirectoryKey>().Ask<FailoverList>(new ListFailovers(), AskTimeout, ct);
            var jobs = new List<(FailoverEntry, FailoverJobView)>();
            foreach (var entry in list.Jobs.Where(j => MachineFailoverHistory.Involves(j, id)))
                jobs.Add((entry, await r.Get<FailoverJobsRegion>().Ask<FailoverJobView>(new GetFailoverJob(entry.JobId), AskTimeout, ct)));
            return Results.Ok(MachineFailoverHistory.Summarize(id, jobs));
        });
    }
}
