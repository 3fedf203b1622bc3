using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node.Failover;

namespace SiteRecovery.Node.Api;

/// <summary>
/// POST /api/returns: the original site's half of a failback that returns a machine (see
/// <see cref="NodeFailoverEffects.ReturnHereAsync"/>); the failover site's job calls it, once per machine, and repeats
/// it after a restart. 400 names what cannot be served here (nothing is changed then); 500 a return that failed on the way.
/// </summary>
public static class ReturnEndpoints
{
    public static void Map(WebApplication app, NodeOptions options)
    {
        app.MapPost("/api/returns", async (MachineReturnRequest? body, NodeFailoverEffects effects, CancellationToken ct) =>
        {
            if (body is null) return Results.BadRequest(new ApiError("a body is required: jobId, machineId, disks, processServer, name, memoryMiB, cpus, firmware"));
            if (!PathNames.IsOneComponent(body.JobId))
                return Results.BadRequest(new ApiError($"jobId: '{body.JobId}' is not a failover job id"));
            if (!PathNames.IsOneComponent(body.MachineId))
                return Results.BadRequest(new ApiError($"machineId: '{body.MachineId}' is not a machine id"));
            try { HostPort.Parse("processServer", body.ProcessServer ?? ""); }
            catch (ArgumentException e) { return Results.BadRequest(new ApiError(e.Message)); }
            if (body.Disks is null) return Results.BadRequest(new ApiError("disks: required (the machine's disk ids)"));
            try { return Results.Ok(await effects.ReturnHereAsync(body, ct)); }
            catch (ArgumentException e) { return Results.BadRequest(new ApiError(e.Message)); }
            catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException or InvalidDataException)
            {
                return Results.Json(new ApiError($"the return of {body.MachineId} failed: {e.Message}", Retryable: true), statusCode: StatusCodes.Status500InternalServerError);
            }
        });
    }
}
