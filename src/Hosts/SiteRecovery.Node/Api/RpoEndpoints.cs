using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Alerts;

namespace SiteRecovery.Node.Api;

/// <summary>
/// <c>GET /api/rpo[?machine=ID|?disk=ID]</c>: per disk and per machine, the RPO in ms (age of the newest recovery point,
/// or of the registration without one), the newest point, and the threshold it is held to — the read model the RPO
/// alerts are computed from (<see cref="RpoReport"/>), so the API and the alerts never disagree.
/// </summary>
public static class RpoEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void Map(WebApplication app, NodeOptions options)
    {
        app.MapGet("/api/rpo", async (ActorRegistry registry, string? machine, string? disk) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration)) return Results.BadRequest(new ApiError("this node does not run the configuration role"));
            if (machine is not null && disk is not null) return Results.BadRequest(new ApiError("give at most one of machine or disk"));
            var answer = await registry.Get<AlertEvaluator>().Ask<object>(new AlertEvaluator.GetRpo(), AskTimeout);
            if (answer is Status.Failure f) return Results.Json(new ApiError(f.Cause.Message), statusCode: 503);
            var report = (RpoReport)answer;
            if (machine is not null)
            {
                report = report.ForMachine(machine);
                if (report.Machines.Count == 0) return Results.NotFound(new ApiError($"machine {machine} has no registered disk"));
            }
            else if (disk is not null)
            {
                report = report.ForDisk(disk);
                if (report.Disks.Count == 0) return Results.NotFound(new ApiError($"disk {disk} is not registered"));
            }
            return Results.Ok(report);
        });
    }
}
