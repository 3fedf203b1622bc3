using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>A disk's writer binding at this node's process server: the fingerprint (hex SHA-256 of its public key), its highest epoch, its source.</summary>
public sealed record WriterResponse(string Disk, string Fingerprint, long Epoch, string Source);

/// <summary>The answer to a release or a keep: what the disk's binding was, and what was done.</summary>
public sealed record WriterResolvedResponse(string Disk, string Action, string? Fingerprint);

/// <summary>
/// The writer binding of a disk (one writer identity per disk, see <see cref="WriterBindingRules"/>): read it, release it
/// on purpose (a machine reinstalled with a new agent: the next verified writer binds), or keep it (the refused writer was
/// an impostor or a mistake, dealt with). Release and keep clear the DiskWriterRefused alert; both are audited by the
/// access middleware like every state-changing call.
/// </summary>
public static class WriterEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/disks/{id}/writer", (string id, DataPathService dp) =>
        {
            if (dp.Process is null) return Results.BadRequest(new ApiError("this node does not run the process-server role"));
            return dp.Process.WriterOf(id) is { } b
                ? Results.Ok(new WriterResponse(id, b.Fingerprint, b.Epoch, b.SourceId))
                : Results.NotFound(new ApiError($"disk {id} has no writer binding at process server {dp.ProcessServerId}"));
        });

        app.MapPost("/api/disks/{id}/writer/release", async (string id, DataPathService dp, ActorRegistry registry, CancellationToken ct) =>
        {
            if (dp.Process is null) return Results.BadRequest(new ApiError("this node does not run the process-server role"));
            var was = dp.Process.WriterOf(id);
            if (!await dp.Process.ReleaseWriterAsync(id, ct))
                return Results.NotFound(new ApiError($"disk {id} has no writer binding at process server {dp.ProcessServerId}: nothing released"));
            Resolved(registry, id, released: true);
            app.Logger.LogInformation("{Message}", $"disk {id}: writer binding {HelloSignature.Short(was?.Fingerprint ?? "?")} released by an operator");
            return Results.Ok(new WriterResolvedResponse(id, "released", was?.Fingerprint));
        });

        app.MapPost("/api/disks/{id}/writer/keep", (string id, DataPathService dp, ActorRegistry registry) =>
        {
            if (dp.Process is null) return Results.BadRequest(new ApiError("this node does not run the process-server role"));
            if (dp.Process.WriterOf(id) is not { } b)
                return Results.NotFound(new ApiError($"disk {id} has no writer binding at process server {dp.ProcessServerId}: nothing to keep"));
            dp.Process.DismissWriterRefusals(id);
            Resolved(registry, id, released: false);
            return Results.Ok(new WriterResolvedResponse(id, "kept", b.Fingerprint));
        });
    }

    // Tell, not ask: the alert follows the journal; an unregistered disk (no alert possible) rejects it harmlessly.
    static void Resolved(ActorRegistry registry, string diskId, bool released)
    {
        if (registry.TryGet<ProtectedDisksRegion>(out var disks))
            disks.Tell(new ResolveWriterRefusal(diskId, released, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }
}
