using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Consistency;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>POST /api/protection-groups/{id}/bookmarks: a group bookmark over every disk of every member machine.</summary>
public sealed record GroupBookmarkBody(string? Bookmark, string? Kind, int? TimeoutMs);

/// <summary>POST /api/group-bookmarks: the same over listed machines (agent ids), for a node that keeps no protection groups.</summary>
public sealed record MachinesBookmarkBody(string? Bookmark, string[]? Machines, string? Kind, int? TimeoutMs);

/// <summary>Write stall of the group bookmarks committed since the node started (ms).</summary>
public sealed record StallSummary(int Count, double? P50Ms, double? P99Ms, double? MaxMs);

/// <summary>
/// Multi-machine consistency. A group's members are machine ids; the data path knows which disks each machine
/// (agent) has connected to this node's master target, so the group endpoint resolves members to disks there.
/// A member with no disk connected here (not replicating yet, or replicating to another master target) is a
/// 409 naming it: a group bookmark is over all members or none.
/// </summary>
public static class ConsistencyEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(2);

    public static void Map(WebApplication app, NodeOptions options)
    {
        app.MapPost("/api/protection-groups/{id}/bookmarks", async (string id, GroupBookmarkBody? body, DataPathService dp, ActorRegistry registry, GroupBookmarks bookmarks, CancellationToken ct) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration))
                return Results.BadRequest(new ApiError("this node does not run the configuration role (protection groups live there); use POST /api/group-bookmarks with machines"));
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (Parse(body?.Bookmark, body?.Kind, body?.TimeoutMs) is { Error: { } bad }) return Results.BadRequest(new ApiError(bad));
            var group = await registry.Get<ProtectionGroupsRegion>().Ask<ProtectionGroupView>(new GetProtectionGroup(id), AskTimeout);
            if (!group.Created) return Results.NotFound(new ApiError($"protection group {id} does not exist"));
            if (group.Machines.Count == 0) return Results.Conflict(new ApiError($"protection group {id} has no machines"));
            if (group.Machines.Count > 1 && group.Settings is { MultiVmConsistency: false })
                return Results.Conflict(new ApiError($"protection group {id} has multiVmConsistency off: its machines are not recovered to one shared point; turn it on in the group's settings"));
            return await RunAsync(id, body!.Bookmark!, group.Machines, body.Kind, body.TimeoutMs, bookmarks, registry, options, ct);
        });

        app.MapPost("/api/group-bookmarks", async (MachinesBookmarkBody? body, DataPathService dp, ActorRegistry registry, GroupBookmarks bookmarks, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (Parse(body?.Bookmark, body?.Kind, body?.TimeoutMs) is { Error: { } bad }) return Results.BadRequest(new ApiError(bad));
            if (body!.Machines is not { Length: > 0 } machines || machines.Any(string.IsNullOrWhiteSpace))
                return Results.BadRequest(new ApiError("machines: at least one machine (agent) id is required, none blank"));
            return await RunAsync("machines:" + string.Join(",", machines.Order(StringComparer.Ordinal)), body.Bookmark!, machines, body.Kind, body.TimeoutMs, bookmarks, registry, options, ct);
        });

        app.MapGet("/api/group-bookmarks/stalls", (DataPathService dp, GroupBookmarks bookmarks) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            var stalls = bookmarks.Stalls.ToArray();
            Array.Sort(stalls);
            double? At(double q) => stalls.Length == 0 ? null : stalls[Math.Min(stalls.Length - 1, (int)Math.Ceiling(q * stalls.Length) - 1)];
            return Results.Ok(new StallSummary(stalls.Length, At(0.5), At(0.99), stalls.Length == 0 ? null : stalls[^1]));
        });
    }

    static (string? Error, bool App) Parse(string? bookmark, string? kind, int? timeoutMs)
    {
        if (string.IsNullOrWhiteSpace(bookmark)) return ("bookmark: a name is required", false);
        if (bookmark.Length > 128) return ("bookmark: at most 128 characters", false);
        if (bookmark.Any(char.IsControl)) return ("bookmark: control characters are not allowed", false);
        if (bookmark.StartsWith(SiteRecovery.Contracts.Wire.GroupMarker.Prefix, StringComparison.Ordinal))
            return ($"bookmark: names starting with '{SiteRecovery.Contracts.Wire.GroupMarker.Prefix}' are reserved", false);
        if (kind is not (null or "crash" or "app")) return ($"kind: '{kind}' is not one of crash, app", false);
        if (timeoutMs is { } t && (t < 10 || t > MaxTimeout.TotalMilliseconds))
            return ($"timeoutMs: {t} is outside 10..{MaxTimeout.TotalMilliseconds:0}", false);
        return (null, kind == "app");
    }

    static async Task<IResult> RunAsync(string groupId, string bookmark, IReadOnlyList<string> machines, string? kind, int? timeoutMs,
        GroupBookmarks bookmarks, ActorRegistry registry, NodeOptions options, CancellationToken ct)
    {
        var timeout = timeoutMs is { } t ? TimeSpan.FromMilliseconds(t) : DefaultTimeout;
        GroupBookmarkResult result;
        try
        {
            result = await bookmarks.TakeAsync(groupId, bookmark, machines, kind == "app", timeout, ct);
        }
        catch (InvalidOperationException e) { return Results.Conflict(new ApiError(e.Message)); }
        catch (ArgumentException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (TimeoutException e) { return Results.Json(new ApiError(e.Message), statusCode: 504); }
        if (result.Outcome == GroupBookmarkOutcome.Aborted)
            return Results.Json(new { error = $"group bookmark {bookmark} aborted ({result.AbortReason}): {result.AbortDetail}; every hold released, no point recorded", result }, statusCode: 409);

        // Reply once every disk's actor lists the point, so a recovery by this name works as soon as the caller has the answer.
        if (options.Roles.HasFlag(NodeRoles.Configuration))
            foreach (var (disk, seq) in result.Sequences)
            {
                var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (true)
                {
                    var view = await registry.Get<ProtectedDisksRegion>().Ask<DiskView>(new GetDisk(disk, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), AskTimeout);
                    if (view.RecoveryPoints.Any(p => p.BookmarkId == bookmark && p.Sequence == seq)) break;
                    if (view.RecoveryPoints.Any(p => p.BookmarkId == bookmark))
                        return Results.Conflict(new ApiError($"disk {disk} already has a recovery point named {bookmark} at another sequence; group bookmark names must be new"));
                    if (DateTime.UtcNow > until)
                        return Results.Json(new ApiError($"group bookmark {bookmark} on {disk} is durable at #{seq} but was not recorded by the disk's actor within 10 s"), statusCode: 504);
                    await Task.Delay(20, ct);
                }
            }
        return Results.Ok(result);
    }
}
