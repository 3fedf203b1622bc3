using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.ReadModels;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Api;

/// <summary>The node's HTTP API: what srctl, portals and test harnesses drive the site with.</summary>
public static class ApiEndpoints
{
    static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    static readonly System.Text.Json.JsonSerializerOptions StreamJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static void Map(WebApplication app, NodeOptions options)
    {
        app.MapGet("/api/status", async (DataPathService dp, ActorRegistry registry) =>
        {
            var disks = new List<DiskStatus>();
            foreach (var (id, d) in dp.Target?.Disks ?? new Dictionary<string, (long, long)>())
            {
                var view = await TryGetDiskAsync(registry, id, options);
                disks.Add(new DiskStatus(id, d.Size, d.AppliedThrough, view?.State.ToString(), view?.RpoMs / 1000,
                    view?.RecoveryPoints.Count ?? 0, view?.RecoveryPoints.LastOrDefault()?.BookmarkId));
            }
            var cache = (dp.Process?.Disks ?? new Dictionary<string, (long, long, long, long)>())
                .Select(kv => new ProcessServerDiskStatus(kv.Key, kv.Value.Spooled, kv.Value.Durable, kv.Value.TargetAcked, kv.Value.CacheBytes)).ToList();
            return Results.Ok(new NodeStatus(options.NodeId, options.Roles.ToString(), options.Persistence.ToString(), disks.OrderBy(d => d.Disk).ToList(), cache));
        });

        app.MapGet("/api/metrics", (DataPathService dp, bool? reset) =>
        {
            var lag = dp.Lag.Snapshot(reset ?? false);
            var memory = Environment.WorkingSet;
            var peak = ReadPeakRss();
            return Results.Ok(new { lagMs = lag, workingSetBytes = memory, peakRssBytes = peak, gcHeapBytes = GC.GetTotalMemory(false) });
        });

        app.MapGet("/api/alerts", async (ActorRegistry registry, bool? active) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration)) return Results.BadRequest(new ApiError("this node does not run the configuration role"));
            return Results.Ok(await registry.Get<SiteRecovery.Actors.Alerts.AlertMonitor>().Ask<SiteRecovery.Contracts.Control.AlertList>(new SiteRecovery.Contracts.Control.GetAlerts(active ?? false), AskTimeout));
        });

        app.MapGet("/api/jobs", async (ActorRegistry registry, bool? running) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration)) return Results.BadRequest(new ApiError("this node does not run the configuration role"));
            var view = await registry.Get<JobsProjection>().Ask<JobsProjection.JobsView>(new JobsProjection.GetJobs(running ?? false), AskTimeout);
            return Results.Ok(view);
        });

        // Live stream of what the actors do: every journal event and every job change, as server-sent events.
        app.MapGet("/api/events", async (HttpContext http, ActorSystem system, CancellationToken ct) =>
        {
            if (!options.Roles.HasFlag(NodeRoles.Configuration)) { http.Response.StatusCode = 400; return; }
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            var channel = System.Threading.Channels.Channel.CreateBounded<object>(new System.Threading.Channels.BoundedChannelOptions(1024) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });
            var relay = system.ActorOf(EventStreamRelay.Props(channel.Writer));
            try
            {
                await http.Response.WriteAsync(": connected\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
                await foreach (var item in channel.Reader.ReadAllAsync(ct))
                {
                    var (kind, payload) = item switch
                    {
                        // Registration events carry secrets (signing key, passphrase hash): only their redacted text leaves the node.
                        JobsProjection.JournalEventSeen e => ("event", (object)new { e.PersistenceId, e.SequenceNr, e.TimestampUnixMs, e.Type, Event = e.Event is SiteRecovery.Contracts.Control.IRegistrationEvent ? e.Event.ToString() : e.Event }),
                        JobsProjection.JobChanged j => ("job", j.Job),
                        EventStreamRelay.Missed m => ("missed", m),
                        _ => ("unknown", item),
                    };
                    await http.Response.WriteAsync($"event: {kind}\ndata: {System.Text.Json.JsonSerializer.Serialize(payload, StreamJson)}\n\n", ct);
                    await http.Response.Body.FlushAsync(ct);
                }
            }
            catch (OperationCanceledException) { }
            finally { system.Stop(relay); }
        });

        app.MapGet("/api/disks/{id}", async (string id, ActorRegistry registry) =>
        {
            var view = await TryGetDiskAsync(registry, id, options);
            return view is null || view.State == ReplicationState.Unregistered
                ? Results.NotFound(new ApiError($"disk {id} is not registered"))
                : Results.Ok(view);
        });

        app.MapPost("/api/bookmarks", async (BookmarkBody body, DataPathService dp, ActorRegistry registry, BookmarkNames names, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (body.Disks is not { Length: > 0 }) return Results.BadRequest(new ApiError("disks: at least one disk id is required"));
            var name = string.IsNullOrWhiteSpace(body.Name) ? $"bm-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}" : body.Name;
            if (name.Length > 128) return Results.BadRequest(new ApiError("name: at most 128 characters"));
            if (name.Any(char.IsControl)) return Results.BadRequest(new ApiError("name: control characters are not allowed"));
            if (SiteRecovery.Contracts.Wire.ResyncMarker.ReservedNameError(name) is { } reserved) return Results.BadRequest(new ApiError($"name: {reserved}"));
            var timeout = TimeSpan.FromSeconds(body.TimeoutSeconds ?? 30);
            try
            {
                using var reservation = await names.ReserveAsync(name, body.Disks, timeout);
                var inserted = await dp.Target.BookmarkAsync(name, body.Disks, timeout, ct);
                if (inserted.Error is not null) return Results.Conflict(new ApiError($"bookmark {name}: {inserted.Error}", inserted.Retryable ? true : null));
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                // The master target reports each durable marker to the disk's actor; reply once every disk lists
                // the point, so a recovery by this bookmark name works as soon as the caller has the answer. The name is
                // reserved for this request, so a point by it is this request's: usually this try's marker, or an
                // earlier try's whose connection ended under it (the first durable marker of a name is the point).
                var recorded = new Dictionary<string, long>(inserted.Sequences);
                if (options.Roles.HasFlag(NodeRoles.Configuration))
                    foreach (var (disk, seq) in inserted.Sequences)
                    {
                        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                        while (true)
                        {
                            if ((await TryGetDiskAsync(registry, disk, options))?.RecoveryPoints.FirstOrDefault(p => p.BookmarkId == name) is { } point)
                            {
                                recorded[disk] = point.Sequence;
                                break;
                            }
                            if (DateTime.UtcNow > deadline) return Results.Json(new ApiError($"bookmark {name} on {disk} is durable at #{seq} but was not recorded by the disk's actor within 10 s"), statusCode: 504);
                            await Task.Delay(20, ct);
                        }
                    }
                return Results.Ok(new BookmarkResponse(name, recorded, now));
            }
            catch (InvalidOperationException e) { return Results.Conflict(new ApiError(e.Message)); }
            catch (TimeoutException e) { return Results.Json(new ApiError(e.Message), statusCode: 504); }
        });
    }

    /// <summary>VmHWM from /proc: the most resident memory this process has had.</summary>
    static long? ReadPeakRss()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { return null; }
    }

    internal static async Task<DiskView?> TryGetDiskAsync(ActorRegistry registry, string id, NodeOptions options)
    {
        if (!options.Roles.HasFlag(NodeRoles.Configuration)) return null;
        return await registry.Get<ProtectedDisksRegion>().Ask<DiskView>(new GetDisk(id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), AskTimeout);
    }
}
