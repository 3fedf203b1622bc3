using System.Globalization;
using System.Runtime.InteropServices;
using Akka.Hosting;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Resync;
using SiteRecovery.Node.Exports;

namespace SiteRecovery.Node.Api;

/// <summary>POST /api/recover: the image of a disk at exactly one of a bookmark, a sequence or a UTC time (ISO-8601), written to a file on the master target's machine.</summary>
public sealed record RecoverBody(string? Disk, string? Bookmark, long? Sequence, string? Time, string? Output);
/// <summary>
/// <paramref name="Note"/>: set when a time fell inside a resync and was clamped to the last state before it (or resolved by the
/// agent's time, for a record from before receive times were kept). <paramref name="ReceivedTime"/>: when the master target
/// received the point (its clock, which <c>time</c> resolves by and retention ages by); <paramref name="AgentTime"/>: the agent's
/// write stamp of the same point, beside it.
/// </summary>
public sealed record RecoverResponse(string Disk, string? Bookmark, string? Time, long Sequence, string Output, long Bytes, long Deltas, string Sha256, double Seconds, string? Note = null,
    DateTimeOffset? ReceivedTime = null, DateTimeOffset? AgentTime = null);

/// <summary>POST /api/disks/{id}/exports: serve a point over NBD, read-only or copy-on-write; listen defaults to 127.0.0.1:0.</summary>
public sealed record ExportBody(string? Bookmark, long? Sequence, string? Time, bool? Writable, string? Listen);
public sealed record ExportResponse(string ExportId, string Disk, long Sequence, bool Writable, string Uri, string ExportName, long OverlayBytes, DateTimeOffset Created, string? Note = null,
    DateTimeOffset? ReceivedTime = null, DateTimeOffset? AgentTime = null);

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
        app.Lifetime.ApplicationStopping.Register(() => exports.DisposeAsync().AsTask().GetAwaiter().GetResult());

        app.MapPost("/api/recover", async (RecoverBody body, DataPathService dp, ActorRegistry registry, CancellationToken ct) =>
        {
            if (dp.Target is null) return Results.BadRequest(new ApiError("this node does not run the master-target role"));
            if (string.IsNullOrWhiteSpace(body.Disk)) return Results.BadRequest(new ApiError("disk: required"));
            using var output = RecoveryOutput.Claim(options.RecoveryDirectory, body.Output, out var refusal);
            if (output is null) return Results.BadRequest(new ApiError(refusal!));
            return await GuardAsync(async () =>
            {
                var (sequence, note, error) = await ResolvePointAsync(body.Disk, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var started = DateTime.UtcNow;
                var result = await dp.Target.RecoverAsync(body.Disk, sequence, output.WritePath, null, ct);
                var times = await dp.Target.PointTimesAsync(body.Disk, sequence);
                return Results.Ok(new RecoverResponse(body.Disk, body.Bookmark, body.Time, sequence, output.Path, result.BytesWritten, result.DeltaCount,
                    result.Sha256.ToLowerInvariant(), (DateTime.UtcNow - started).TotalSeconds, note, Time(times.ReceivedUnixMs), Time(times.AgentTimeUnixMs)));
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
            if (!options.ExportsListenAny && !System.Net.IPAddress.IsLoopback(listen.Address))
                return Results.BadRequest(new ApiError($"listen: {listen} is not a loopback address; an export serves a whole disk to whoever reaches it, so this node " +
                    "serves exports on loopback only (start it with --exports-listen-any to allow other addresses)"));
            if (exports.Count >= exports.MaxExports) return Results.Conflict(new ApiError(new ExportLimitException(exports.MaxExports, exports.Count).Message));
            return await GuardAsync(async () =>
            {
                var (sequence, note, error) = await ResolvePointAsync(id, body.Bookmark, body.Sequence, body.Time, dp.Target, registry, options);
                if (error is not null) return error;
                var view = await dp.Target.OpenViewAsync(id, sequence);
                ServedPoint served;
                try { served = await exports.AddWithinLimitAsync(id, view, body.Writable ?? false, listen); }
                catch (System.Net.Sockets.SocketException e) { return Results.BadRequest(new ApiError($"listen: cannot listen on {listen}: {e.Message}")); }
                catch (ExportLimitException e) { return Results.Conflict(new ApiError(e.Message)); }
                var times = await dp.Target.PointTimesAsync(id, sequence);
                return Results.Ok(ToResponse(served) with { Note = note, ReceivedTime = Time(times.ReceivedUnixMs), AgentTime = Time(times.AgentTimeUnixMs) });
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
        catch (PointInsideResyncException e) { return Results.Conflict(new ApiError(e.Message)); }
        catch (PointInTimeUnavailableException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (ArgumentOutOfRangeException e) { return Results.BadRequest(new ApiError(e.Message)); }
        catch (InvalidDataException e) { return Results.BadRequest(new ApiError(e.Message)); }
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

/// <summary>
/// Where POST /api/recover may write: a new file inside the node's recovery directory (<c>--recovery-dir</c>), reached
/// without a symlink. The API takes no credentials yet, and the node may run as root, so without this any caller could
/// create a file anywhere on the machine.
/// </summary>
/// <remarks>
/// The directories from the recovery directory down to the output are opened one by one with O_NOFOLLOW, and the image
/// is written through <c>/proc/self/fd/N/name</c> of the last one: a directory swapped for a symlink after the checks
/// cannot redirect the write, because the kernel resolves that name to the directory already opened. The image and its
/// <c>.partial</c> are created with O_EXCL (<see cref="SiteRecovery.Contracts.Storage.PrivateFiles"/>), which refuses any
/// existing name, a symlink planted there included.
/// </remarks>
public sealed class RecoveryOutput : IDisposable
{
    // O_DIRECTORY and O_NOFOLLOW differ between the x86 and the Arm ABIs of Linux.
    static readonly bool Arm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    static readonly int ODirectory = Arm ? 0x4000 : 0x10000, ONoFollow = Arm ? 0x8000 : 0x20000;
    const int OCloexec = 0x80000;
    const int ENoEnt = 2, ENotDir = 20, ELoop = 40;
    int _directory;

    RecoveryOutput(string path, string writePath, int directory)
    {
        Path = path;
        WritePath = writePath;
        _directory = directory;
    }

    /// <summary>The output as the operator names it (inside the recovery directory).</summary>
    public string Path { get; }
    /// <summary>The same file reached through the directory opened at the claim: what the image is written to.</summary>
    public string WritePath { get; }

    /// <summary>
    /// Checks <paramref name="output"/> (relative: under <paramref name="recoveryDirectory"/>; absolute: must be inside it)
    /// and holds its directory open; null with <paramref name="refusal"/> naming the problem when it may not be written.
    /// Nothing is created here.
    /// </summary>
    public static RecoveryOutput? Claim(string recoveryDirectory, string? output, out string? refusal)
    {
        refusal = Problem(recoveryDirectory, output, out var full, out var parts);
        if (refusal is not null) return null;
        var name = parts[^1];
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self/fd"))
        {
            // Without /proc the directories are checked by name only: a swap after the check is not caught.
            var walkedByName = recoveryDirectory;
            foreach (var part in parts[..^1])
            {
                walkedByName = System.IO.Path.Combine(walkedByName, part);
                if (new DirectoryInfo(walkedByName).LinkTarget is not null) { refusal = $"output: '{walkedByName}' is a symlink; a recovery output is never written through one"; return null; }
                if (!Directory.Exists(walkedByName)) { refusal = $"output: directory '{walkedByName}' does not exist in the recovery directory '{recoveryDirectory}'"; return null; }
            }
            refusal = Occupied(System.IO.Path.GetDirectoryName(full)!, name, full);
            return refusal is null ? new RecoveryOutput(full, full, -1) : null;
        }
        var dir = open(recoveryDirectory, ODirectory | OCloexec);
        if (dir < 0)
        {
            refusal = $"output: the recovery directory '{recoveryDirectory}' cannot be opened (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }
        var walked = recoveryDirectory;
        foreach (var part in parts[..^1])
        {
            walked = System.IO.Path.Combine(walked, part);
            var next = open($"/proc/self/fd/{dir}/{part}", ODirectory | ONoFollow | OCloexec);
            var errno = Marshal.GetLastPInvokeError();
            _ = close(dir);
            dir = next;
            if (dir >= 0) continue;
            refusal = errno switch
            {
                // With O_DIRECTORY the kernel may answer a symlink with ENOTDIR before ELOOP.
                ELoop => $"output: '{walked}' is a symlink; a recovery output is never written through one",
                ENotDir when new FileInfo(walked).LinkTarget is not null => $"output: '{walked}' is a symlink; a recovery output is never written through one",
                ENoEnt => $"output: directory '{walked}' does not exist in the recovery directory '{recoveryDirectory}'",
                ENotDir => $"output: '{walked}' is not a directory",
                _ => $"output: '{walked}' cannot be opened (errno {errno})",
            };
            return null;
        }
        var through = $"/proc/self/fd/{dir}";
        refusal = Occupied(through, name, full);
        if (refusal is null) return new RecoveryOutput(full, $"{through}/{name}", dir);
        _ = close(dir);
        return null;
    }

    /// <summary>Refuses what no file system call is needed for: no name, a "..", a path outside the recovery directory.</summary>
    static string? Problem(string recoveryDirectory, string? output, out string full, out string[] parts)
    {
        full = "";
        parts = [];
        if (string.IsNullOrWhiteSpace(output)) return $"output: a file name is required (it is written in the recovery directory '{recoveryDirectory}')";
        if (output.Contains('\0')) return "output: contains a NUL character";
        if (output.Split('/').Contains("..")) return $"output: '{output}' contains '..'; name a file in the recovery directory '{recoveryDirectory}'";
        full = System.IO.Path.GetFullPath(System.IO.Path.IsPathRooted(output) ? output : System.IO.Path.Combine(recoveryDirectory, output));
        var inside = recoveryDirectory.EndsWith('/') ? recoveryDirectory : recoveryDirectory + "/";
        if (System.IO.Path.TrimEndingDirectorySeparator(full) == recoveryDirectory) return $"output: '{output}' names the recovery directory itself, not a file in it";
        if (!full.StartsWith(inside, StringComparison.Ordinal))
            return $"output: '{full}' is outside the recovery directory '{recoveryDirectory}' (--recovery-dir); images are written only there";
        if (output.EndsWith('/')) return $"output: '{output}' names a directory, not a file";
        parts = System.IO.Path.GetRelativePath(recoveryDirectory, full).Split('/');
        return null;
    }

    /// <summary>The output or its temporary name already taken, by anything: a file, a directory, a symlink (even dangling).</summary>
    static string? Occupied(string directory, string name, string full)
    {
        foreach (var (candidate, shown) in new[] { (name, full), (name + ".partial", full + ".partial") })
        {
            var p = System.IO.Path.Combine(directory, candidate);
            var info = new FileInfo(p);
            if (info.LinkTarget is not null) return $"output: '{shown}' is a symlink; a recovery output is never written through one";
            if (info.Exists || Directory.Exists(p)) return $"output: '{shown}' already exists; recovery never overwrites a file";
        }
        return null;
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _directory, -1);
        if (fd >= 0) _ = close(fd);
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    static extern int close(int fd);
}
