using System.Globalization;
using Akka.Hosting;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Node.Exports;

namespace SiteRecovery.Node.Api;

/// <summary>POST /api/recover: the image of a disk at exactly one of a bookmark, a sequence or a UTC time (ISO-8601), written to a file on the master target's machine.</summary>
public sealed record RecoverBody(string? Disk, string? Bookmark, long? Sequence, string? Time, string? Output);
public sealed record RecoverResponse(string Disk, string? Bookmark, string? Time, long Sequence, string Output, long Bytes, long Deltas, string Sha256, double Seconds);

/// <summary>POST /api/disks/{id}/exports: serve a point over NBD, read-only or copy-on-write; listen defaults to 127.0.0.1:0.</summary>
public sealed record ExportBody(string? Bookmark, long? Sequence, string? Time, bool? Writable, string? Listen);
public sealed record ExportResponse(string ExportId, string Disk, long Sequence, bool Writable, string Uri, string ExportName, long OverlayBytes, DateTimeOffset Created);

/// <summary>GET /api/disks/{id}/retention: the recoverable range (sequences and write times).</summary>
public sealed record RetentionResponse(string Disk, long OldestSequence, DateTimeOffset? OldestTime, long NewestSequence, DateTimeOffset? NewestTime, IReadOnlyList<long> Checkpoints, int OpenViews);

/// <summary>Recovery to a point in time, and points served over NBD without materializing them.</summary>
public static class PointInTimeEndpoints
{
    public static void Map(WebApplication app, NodeOptions options)
    {
        var exports = new PointInTimeExports(Path.Combine(options.DataDirectory, "master-target", "exports"),
            m => app.Logger.LogInformation("{Message}", m));
        app.Lifetime.ApplicationStopping.Register(() => exports.DisposeAsync().AsTask().GetAwaiter().GetResult());

        app.MapPost("/api/recover", async (RecoverBody body, DataPathService dp, ActorRegistry registry, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (string.IsNullOrWhiteSpace(body.Disk)) return Results.BadRequest(new ApiError("disk: required"));
            if (string.IsNullOrWhiteSpace(body.Output)) return Results.BadRequest(new ApiError("output: a file path is required"));
            var output = Path.GetFullPath(body.Output);
            if (File.Exists(output) || Directory.Exists(output)) return Results.BadRequest(new ApiError($"output: '{output}' already exists; recovery never overwrites a file"));
            return await GuardAsync(async () =>
            {
                var (sequence, error) = await ResolvePointAsync(body.Disk, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var started = DateTime.UtcNow;
                var result = await dp.Target.RecoverAsync(body.Disk, sequence, output, null, ct);
                return Results.Ok(new RecoverResponse(body.Disk, body.Bookmark, body.Time, sequence, output, result.BytesWritten, result.DeltaCount,
                    result.Sha256.ToLowerInvariant(), (DateTime.UtcNow - started).TotalSeconds));
            });
        });

        app.MapGet("/api/disks/{id}/retention", async (string id, DataPathService dp) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            return await GuardAsync(async () =>
            {
                var disk = await dp.Target.GetDiskAsync(id);
                var w = disk.Retention.Window();
                return Results.Ok(new RetentionResponse(id, w.OldestSequence, Time(w.OldestTimeUnixMs), w.NewestSequence, Time(w.NewestTimeUnixMs),
                    disk.Retention.Checkpoints, disk.Retention.OpenViews));
            });
        });

        app.MapPost("/api/disks/{id}/exports", async (string id, ExportBody body, DataPathService dp, ActorRegistry registry) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            System.Net.IPEndPoint listen;
            try { listen = HostPort.Parse("listen", string.IsNullOrWhiteSpace(body.Listen) ? "127.0.0.1:0" : body.Listen); }
            catch (Exception e) when (e is ArgumentException or System.Net.Sockets.SocketException) { return Results.BadRequest(new ApiError(e.Message)); }
            return await GuardAsync(async () =>
            {
                var (sequence, error) = await ResolvePointAsync(id, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var view = await dp.Target.OpenViewAsync(id, sequence);
                ServedPoint served;
                try { served = await exports.AddAsync(id, view, body.Writable ?? false, listen); }
                catch (System.Net.Sockets.SocketException e) { return Results.BadRequest(new ApiError($"listen: cannot listen on {listen}: {e.Message}")); }
                return Results.Ok(ToResponse(served));
            });
        });

        app.MapGet("/api/disks/{id}/exports", (string id) => Results.Ok(exports.For(id).Select(ToResponse).ToList()));

        app.MapDelete("/api/disks/{id}/exports/{exportId}", async (string id, string exportId) =>
            await exports.RemoveAsync(id, exportId)
                ? Results.Ok(new { exportId, discarded = true })
                : Results.NotFound(new ApiError($"disk {id} has no export '{exportId}'")));
    }

    static ExportResponse ToResponse(ServedPoint s) => new(s.ExportId, s.Disk, s.Sequence, s.Writable, s.Uri, s.ExportName, s.Export.OverlayBytes, s.Created);

    static DateTimeOffset? Time(long? ms) => ms is { } t ? DateTimeOffset.FromUnixTimeMilliseconds(t) : null;

    /// <summary>Maps the data path's refusals to 4xx answers that name what was wrong.</summary>
    static async Task<IResult> GuardAsync(Func<Task<IResult>> run)
    {
        try { return await run(); }
        catch (KeyNotFoundException e) { return Results.NotFound(new ApiError(e.Message)); }
        catch (PointInTimeUnavailableException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (ArgumentOutOfRangeException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (InvalidDataException e) { return Results.BadRequest(new ApiError(e.Message)); }
    }

    /// <summary>Exactly one of bookmark, sequence or time, resolved to the disk's sequence.</summary>
    static async Task<(long Sequence, IResult? Error)> ResolvePointAsync(string disk, string? bookmark, long? sequence, string? time,
        MasterTargetServer target, ActorRegistry registry, NodeOptions options)
    {
        var given = (bookmark is null ? 0 : 1) + (sequence is null ? 0 : 1) + (time is null ? 0 : 1);
        if (given != 1) return (0, Results.BadRequest(new ApiError("give exactly one of bookmark, sequence or time")));
        if (bookmark is not null)
        {
            var view = await ApiEndpoints.TryGetDiskAsync(registry, disk, options);
            var point = view?.RecoveryPoints.FirstOrDefault(p => p.BookmarkId == bookmark);
            return point is null ? (0, Results.NotFound(new ApiError($"disk {disk} has no recovery point '{bookmark}'"))) : (point.Sequence, null);
        }
        if (time is not null)
        {
            if (!DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                return (0, Results.BadRequest(new ApiError($"time: '{time}' is not an ISO-8601 timestamp")));
            return (await target.ResolveTimeAsync(disk, t), null);
        }
        if (sequence < 1) return (0, Results.BadRequest(new ApiError($"sequence: {sequence} is below 1")));
        var durable = (await target.GetDiskAsync(disk)).DurableThrough;
        if (sequence > durable) return (0, Results.BadRequest(new ApiError($"sequence: {sequence} is past the end of disk {disk} (durable through #{durable})")));
        return (sequence!.Value, null);
    }
}
