using System.Globalization;
using System.Runtime.InteropServices;
using Akka.Hosting;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Azure.Replicas;
using SiteRecovery.Journal.Checkpoints;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Resync;
using SiteRecovery.Node.Exports;

namespace SiteRecovery.Node.Api;

/// <summary>
/// POST /api/recover: the image of a disk at exactly one of a bookmark, a sequence or a UTC time (ISO-8601), written to a
/// file on the master target's machine (<paramref name="Output"/>), or, read from blob storage, to a new page blob beside
/// the replica (<paramref name="Blob"/>, a fixed VHD). <paramref name="From"/>: "retention" (default) or "snapshot".
/// </summary>
public sealed record RecoverBody(string? Disk, string? Bookmark, long? Sequence, string? Time, string? Output, string? From = null, string? Blob = null);
/// <summary>
/// <paramref name="Note"/>: set when a time fell inside a resync and was clamped to the last state before it (or resolved by the
/// agent's time, for a record from before receive times were kept). <paramref name="ReceivedTime"/>: when the master target
/// received the point (its clock, which <c>time</c> resolves by and retention ages by); <paramref name="AgentTime"/>: the agent's
/// write stamp of the same point, beside it. <paramref name="From"/>: where the point was read; <paramref name="Snapshot"/>: the
/// sequence of the replica snapshot it was read on (from blob storage). For a page blob, <paramref name="Output"/> is its name,
/// <paramref name="Blob"/> its URI (no credentials), <paramref name="Bytes"/> what was uploaded, <paramref name="Deltas"/>
/// the journal records read on top of the snapshot and <paramref name="Sha256"/> absent (the blob is not read back).
/// </summary>
public sealed record RecoverResponse(string Disk, string? Bookmark, string? Time, long Sequence, string Output, long Bytes, long Deltas, string? Sha256, double Seconds, string? Note = null,
    DateTimeOffset? ReceivedTime = null, DateTimeOffset? AgentTime = null, string From = "retention", long? Snapshot = null, string? Blob = null);

/// <summary>POST /api/disks/{id}/exports: serve a point over NBD, read-only or copy-on-write; listen defaults to 127.0.0.1:0; from as for recover.</summary>
public sealed record ExportBody(string? Bookmark, long? Sequence, string? Time, bool? Writable, string? Listen, string? From = null);
public sealed record ExportResponse(string ExportId, string Disk, long Sequence, bool Writable, string Uri, string ExportName, long OverlayBytes, DateTimeOffset Created, string? Note = null,
    DateTimeOffset? ReceivedTime = null, DateTimeOffset? AgentTime = null, string? From = null, long? Snapshot = null);

/// <summary>POST /api/disks/{id}/resync: compare the whole disk with its replica and resend what differs (reason OperatorRequest).</summary>
public sealed record ResyncBody(string? Reason);
public sealed record ResyncResponse(string Disk, string Reason, string Why, long AfterSequence);

/// <summary>
/// GET /api/disks/{id}/retention: the recoverable range (sequences; times are the master target's receive times, with the
/// agent's write stamps of the same points beside them in <paramref name="OldestAgentTime"/> / <paramref name="NewestAgentTime"/>).
/// </summary>
/// <paramref name="ResyncRanges"/>: sequences inside a resync (from, to exclusive, null while it runs), never a recovery point;
/// <paramref name="LatestConsistentSequence"/>: the newest sequence that is a state the source had (what a failover to "latest" uses).
public sealed record RetentionResponse(string Disk, long OldestSequence, DateTimeOffset? OldestTime, long NewestSequence, DateTimeOffset? NewestTime, IReadOnlyList<long> Checkpoints, int OpenViews,
    IReadOnlyList<ResyncRange>? ResyncRanges = null, long? LatestConsistentSequence = null, DateTimeOffset? OldestAgentTime = null, DateTimeOffset? NewestAgentTime = null);

/// <summary>Recovery to a point in time, and points served over NBD without materializing them.</summary>
public static class PointInTimeEndpoints
{
    public static void Map(WebApplication app, NodeOptions options)
    {
        var exports = app.Services.GetRequiredService<PointInTimeExports>();

        app.MapPost("/api/recover", async (RecoverBody body, DataPathService dp, ActorRegistry registry, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (string.IsNullOrWhiteSpace(body.Disk)) return Results.BadRequest(new ApiError("disk: required"));
            if (PointSources.Parse(body.From, out var badSource) is not { } source) return Results.BadRequest(new ApiError(badSource!));
            if (body.Blob is not null) return await RecoverToBlobAsync(body, source, dp.Target, registry, options, ct);
            using var output = RecoveryOutput.Claim(options.RecoveryDirectory, body.Output, out var refusal);
            if (output is null) return Results.BadRequest(new ApiError(refusal!));
            return await GuardAsync(async () =>
            {
                if (source == PointSource.Snapshot && await dp.Target.SnapshotReadRefusalAsync(body.Disk) is { } noSnapshots)
                    return Results.BadRequest(new ApiError($"from: {noSnapshots}"));
                var (sequence, note, error) = await ResolvePointAsync(body.Disk, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var started = DateTime.UtcNow;
                MaterializeResult result;
                long? snapshot = null;
                if (source == PointSource.Snapshot)
                {
                    using var view = await dp.Target.OpenSnapshotViewAsync(body.Disk, sequence, ct);
                    snapshot = view.BaseSequence;
                    result = await MasterTargetServer.MaterializeAsync(view, output.WritePath, null, ct);
                }
                else result = await dp.Target.RecoverAsync(body.Disk, sequence, output.WritePath, null, ct);
                var times = await dp.Target.PointTimesAsync(body.Disk, sequence);
                return Results.Ok(new RecoverResponse(body.Disk, body.Bookmark, body.Time, sequence, output.Path, result.BytesWritten, result.DeltaCount,
                    result.Sha256.ToLowerInvariant(), (DateTime.UtcNow - started).TotalSeconds, note, Time(times.ReceivedUnixMs), Time(times.AgentTimeUnixMs),
                    PointSources.Name(source), snapshot));
            });
        });

        app.MapPost("/api/disks/{id}/resync", async (string id, ResyncBody? body, DataPathService dp, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            var why = body?.Reason?.Trim();
            if (string.IsNullOrEmpty(why)) return Results.BadRequest(new ApiError("reason: say why the disk is resynced (it is logged with the resync)"));
            if (why.Length > 256 || why.Any(char.IsControl)) return Results.BadRequest(new ApiError("reason: at most 256 characters, no control characters"));
            if (!dp.Target.Knows(id)) return Results.NotFound(new ApiError($"disk {id} is unknown: it has no replica on this master target"));
            app.Logger.LogInformation("{Message}", $"disk {id}: operator resync requested: {why}");
            var reply = await dp.Target.AskAgentAsync(new ResyncRequest(Guid.NewGuid().ToString("n"), [id], why), TimeSpan.FromSeconds(30), ct);
            return reply is ResyncStarted { Error: null } started
                ? Results.Ok(new ResyncResponse(id, "OperatorRequest", why, started.After.GetValueOrDefault(id)))
                : Results.Conflict(new ApiError($"resync of disk {id}: {(reply as ResyncStarted)?.Error ?? reply.GetType().Name}"));
        });

        app.MapGet("/api/disks/{id}/retention", async (string id, DataPathService dp) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            return await GuardAsync(async () =>
            {
                var disk = await dp.Target.GetDiskAsync(id);
                var w = disk.Retention.Window();
                return Results.Ok(new RetentionResponse(id, w.OldestSequence, Time(w.OldestTimeUnixMs), w.NewestSequence, Time(w.NewestTimeUnixMs),
                    disk.Retention.Checkpoints, disk.Retention.OpenViews, disk.ResyncRanges.Ranges, await dp.Target.LatestConsistentSequenceAsync(id),
                    Time(w.OldestAgentTimeUnixMs), Time(w.NewestAgentTimeUnixMs)));
            });
        });

        app.MapPost("/api/disks/{id}/exports", async (string id, ExportBody body, DataPathService dp, ActorRegistry registry) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            System.Net.IPEndPoint listen;
            try { listen = HostPort.Parse("listen", string.IsNullOrWhiteSpace(body.Listen) ? "127.0.0.1:0" : body.Listen); }
            catch (Exception e) when (e is ArgumentException or System.Net.Sockets.SocketException) { return Results.BadRequest(new ApiError(e.Message)); }
            if (!options.ExportsListenAny && options.ExportsTls is null && !System.Net.IPAddress.IsLoopback(listen.Address))
                return Results.BadRequest(new ApiError($"listen: {listen} is not a loopback address; an export serves a whole disk to whoever reaches it, so this node " +
                    "serves exports on loopback only (start it with --exports-tls-certificate, --exports-tls-key and --exports-tls-client-ca to require client " +
                    "certificates, or --exports-listen-any, to allow other addresses)"));
            if (exports.Count >= exports.MaxExports) return Results.Conflict(new ApiError(new ExportLimitException(exports.MaxExports, exports.Count).Message));
            if (PointSources.Parse(body.From, out var badSource) is not { } source) return Results.BadRequest(new ApiError(badSource!));
            return await GuardAsync(async () =>
            {
                if (source == PointSource.Snapshot && await dp.Target.SnapshotReadRefusalAsync(id) is { } noSnapshots)
                    return Results.BadRequest(new ApiError($"from: {noSnapshots}"));
                var (sequence, note, error) = await ResolvePointAsync(id, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var view = source == PointSource.Snapshot ? await dp.Target.OpenSnapshotViewAsync(id, sequence) : await dp.Target.OpenViewAsync(id, sequence);
                long? snapshot = source == PointSource.Snapshot ? view.BaseSequence : null;
                ServedPoint served;
                try { served = await exports.AddWithinLimitAsync(id, view, body.Writable ?? false, listen); }
                catch (System.Net.Sockets.SocketException e) { return Results.BadRequest(new ApiError($"listen: cannot listen on {listen}: {e.Message}")); }
                catch (ExportLimitException e) { return Results.Conflict(new ApiError(e.Message)); }
                var times = await dp.Target.PointTimesAsync(id, sequence);
                return Results.Ok(ToResponse(served) with
                {
                    Note = note, ReceivedTime = Time(times.ReceivedUnixMs), AgentTime = Time(times.AgentTimeUnixMs), From = PointSources.Name(source), Snapshot = snapshot,
                });
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

    /// <summary>
    /// POST /api/recover with a blob: the point read from blob storage written as the new page blob <c>blob</c> beside the
    /// replica. Everything is checked before anything is written (the source, the disk's replica, the name, no blob by
    /// it, the point); a blob created by someone else meanwhile is still refused by the write, which creates only where
    /// no blob is.
    /// </summary>
    static async Task<IResult> RecoverToBlobAsync(RecoverBody body, PointSource source, MasterTargetServer target, ActorRegistry registry, NodeOptions options, CancellationToken ct)
    {
        if (source != PointSource.Snapshot)
            return Results.BadRequest(new ApiError("blob: a point is written as a new page blob only when it is read from blob storage; add \"from\": \"snapshot\""));
        if (body.Output is not null)
            return Results.BadRequest(new ApiError("give one of output (an image file on this node) and blob (a new page blob beside the replica), not both"));
        var disk = body.Disk!;
        return await GuardAsync(async () =>
        {
            if (await target.SnapshotReadRefusalAsync(disk) is { } noSnapshots) return Results.BadRequest(new ApiError($"from: {noSnapshots}"));
            if (await target.PointBlobRefusalAsync(disk, body.Blob!, ct) is { } refusal) return Results.BadRequest(new ApiError($"blob: {refusal}"));
            var (sequence, note, error) = await ResolvePointAsync(disk, body.Bookmark, body.Sequence, body.Time, target, registry, options);
            if (error is not null) return error;
            var started = DateTime.UtcNow;
            using var view = await target.OpenSnapshotViewAsync(disk, sequence, ct);
            PointImageBlob written;
            try { written = await target.WritePointBlobAsync(view, body.Blob!, null, ct); }
            catch (InvalidOperationException e) when (e is not ObjectDisposedException) { return Results.BadRequest(new ApiError($"blob: {e.Message}")); }
            var records = view.Extents.Where(e => e.Kind != ExtentKind.Zero).Select(e => e.Sequence).Distinct().LongCount();
            var times = await target.PointTimesAsync(disk, sequence);
            return Results.Ok(new RecoverResponse(disk, body.Bookmark, body.Time, sequence, written.Name, written.BytesUploaded, records, null,
                (DateTime.UtcNow - started).TotalSeconds, note, Time(times.ReceivedUnixMs), Time(times.AgentTimeUnixMs), PointSources.Name(source), view.BaseSequence,
                written.Uri.AbsoluteUri));
        });
    }

    /// <summary>Maps the data path's refusals to 4xx answers that name what was wrong.</summary>
    static async Task<IResult> GuardAsync(Func<Task<IResult>> run)
    {
        try { return await run(); }
        catch (KeyNotFoundException e) { return Results.NotFound(new ApiError(e.Message)); }
        catch (PointInsideResyncException e) { return Results.Conflict(new ApiError(e.Message)); }
        catch (PointInTimeUnavailableException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (ArgumentOutOfRangeException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (InvalidDataException e) { return Results.BadRequest(new ApiError(e.Message)); }
        // Blob storage failed for good (after the SDK's retries): not the caller's fault, and nothing was written.
        catch (PageBlobReplicaException e) { return Results.Json(new ApiError(e.Message, Retryable: e.Reason == PageBlobFailureReason.Unavailable), statusCode: StatusCodes.Status502BadGateway); }
    }

    /// <summary>Exactly one of bookmark, sequence or time, resolved to the disk's sequence; the note says when a time was clamped.</summary>
    static async Task<(long Sequence, string? Note, IResult? Error)> ResolvePointAsync(string disk, string? bookmark, long? sequence, string? time,
        MasterTargetServer target, ActorRegistry registry, NodeOptions options)
    {
        var given = (bookmark is null ? 0 : 1) + (sequence is null ? 0 : 1) + (time is null ? 0 : 1);
        if (given != 1) return (0, null, Results.BadRequest(new ApiError("give exactly one of bookmark, sequence or time")));
        if (bookmark is not null)
        {
            var view = await ApiEndpoints.TryGetDiskAsync(registry, disk, options);
            if (view is not null && !view.Registered || view is null && !target.Knows(disk))
                return (0, null, Results.NotFound(new ApiError($"disk {disk} is unknown: no such disk is registered or has a replica here")));
            var point = view?.RecoveryPoints.FirstOrDefault(p => p.BookmarkId == bookmark);
            return point is null ? (0, null, Results.NotFound(new ApiError($"disk {disk} has no recovery point '{bookmark}'"))) : (point.Sequence, null, null);
        }
        if (time is not null)
        {
            if (!DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                return (0, null, Results.BadRequest(new ApiError($"time: '{time}' is not an ISO-8601 timestamp")));
            var resolved = await target.ResolveTimeAsync(disk, t);
            return (resolved.Sequence, resolved.Note, null);
        }
        if (sequence < 1) return (0, null, Results.BadRequest(new ApiError($"sequence: {sequence} is below 1")));
        var durable = (await target.GetDiskAsync(disk)).DurableThrough;
        if (sequence > durable) return (0, null, Results.BadRequest(new ApiError($"sequence: {sequence} is past the end of disk {disk} (durable through #{durable})")));
        return (sequence!.Value, null, null);
    }
}
