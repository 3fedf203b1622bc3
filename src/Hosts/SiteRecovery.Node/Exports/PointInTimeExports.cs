using System.Collections.Concurrent;
using System.Net;
using SiteRecovery.Capture;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Node.Exports;

/// <summary>One served point: its NBD server (own listener) and export.</summary>
public sealed record ServedPoint(string ExportId, string Disk, long Sequence, bool Writable, string Uri, string ExportName, DateTimeOffset Created, PointInTimeExport Export, NbdServer Server);

/// <summary>The API asked for an export while the node already serves <see cref="Limit"/> (<c>--max-exports</c>).</summary>
public sealed class ExportLimitException(int limit, int serving)
    : InvalidOperationException($"this node already serves {serving} exports, its limit (--max-exports {limit}); delete one first")
{
    public int Limit { get; } = limit;
}

/// <summary>
/// The recovery points this node serves over NBD (instant test failover). Each export has its own listener, so
/// the caller chooses the address; deleting an export closes its connections, releases the point's pin and
/// deletes its copy-on-write overlay.
/// <para>
/// The host stops the exports before the data path (see where it is registered), from its own stop sequence: a
/// callback on ApplicationStopping would run, and block, on the thread that delivers SIGTERM.
/// </para>
/// </summary>
public sealed class PointInTimeExports : IAsyncDisposable, Microsoft.Extensions.Hosting.IHostedService
{
    readonly ConcurrentDictionary<string, ServedPoint> _served = new();
    readonly string _overlayDirectory;
    readonly Action<string> _log;
    readonly object _limitGate = new();
    readonly NbdTls? _apiTls;
    int _starting;

    /// <summary>
    /// Exports live as long as the node: an overlay left in <paramref name="overlayDirectory"/> by a node that was killed
    /// belongs to an export that no longer exists, so it is deleted here.
    /// </summary>
    /// <param name="apiTls">Mutual TLS every export made through <see cref="AddWithinLimitAsync"/> requires; null: plain NBD.</param>
    public PointInTimeExports(string overlayDirectory, Action<string> log, int maxExports = NodeOptions.DefaultMaxExports, NbdTls? apiTls = null)
    {
        _apiTls = apiTls;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxExports, 1);
        _overlayDirectory = overlayDirectory;
        _log = log;
        MaxExports = maxExports;
        if (!Directory.Exists(overlayDirectory)) return;
        foreach (var stale in Directory.EnumerateFiles(overlayDirectory, "*.overlay"))
        {
            File.Delete(stale);
            log($"export overlay {Path.GetFileName(stale)} left by an earlier run deleted");
        }
    }

    /// <summary>Most exports <see cref="AddWithinLimitAsync"/> lets live at once (failovers' exports count too).</summary>
    public int MaxExports { get; }

    /// <summary>Exports served now.</summary>
    public int Count => _served.Count;

    public IEnumerable<ServedPoint> For(string disk) => _served.Values.Where(s => s.Disk == disk).OrderBy(s => s.Created);

    /// <summary>
    /// <see cref="AddAsync"/> for a caller of the API, which takes no credentials yet: refused with
    /// <see cref="ExportLimitException"/> (and <paramref name="view"/> released) when <see cref="MaxExports"/> are live or
    /// starting. A failover's own exports go through <see cref="AddAsync"/>: a plan serves one per disk, bounded by its machines.
    /// </summary>
    public async Task<ServedPoint> AddWithinLimitAsync(string disk, PointInTimeView view, bool writable, IPEndPoint listen)
    {
        lock (_limitGate)
        {
            var serving = _served.Count + _starting;
            if (serving >= MaxExports)
            {
                view.Dispose();
                throw new ExportLimitException(MaxExports, serving);
            }
            _starting++;
        }
        try { return await AddAsync(disk, view, writable, listen, _apiTls); }
        finally { lock (_limitGate) _starting--; }
    }

    /// <summary>
    /// Serves <paramref name="view"/> (taking ownership of it) at <paramref name="listen"/>, requiring <paramref name="tls"/>
    /// of its clients when given (its URI is then nbds://).
    /// </summary>
    public async Task<ServedPoint> AddAsync(string disk, PointInTimeView view, bool writable, IPEndPoint listen, NbdTls? tls = null)
    {
        // The id is all DELETE /api/disks/{id}/exports/{exportId} asks for, so it must not be guessable: 128 random bits.
        var id = System.Security.Cryptography.RandomNumberGenerator.GetHexString(32, lowercase: true);
        var name = $"{disk}@{view.Sequence}-{id}";
        PointInTimeExport? export = null;
        NbdServer? server = null;
        try
        {
            string? overlay = null;
            if (writable)
            {
                SiteRecovery.Contracts.Storage.PrivateFiles.CreateDirectory(_overlayDirectory);
                overlay = Path.Combine(_overlayDirectory, $"{id}.overlay");
            }
            export = new PointInTimeExport(name, view, overlay);
            server = new NbdServer(listen, new Dictionary<string, INbdExport> { [name] = export }, new NbdServerOptions { Log = _log, Tls = tls });
            await server.StartAsync();
            var ep = (IPEndPoint)server.LocalEndPoint!;
            var host = ep.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]" : ep.Address.ToString();
            var served = new ServedPoint(id, disk, view.Sequence, writable, $"{(tls is null ? "nbd" : "nbds")}://{host}:{ep.Port}/{Uri.EscapeDataString(name)}", name, DateTimeOffset.UtcNow, export, server);
            _served[id] = served;
            return served;
        }
        catch
        {
            if (server is not null) await server.DisposeAsync();
            if (export is not null) export.Dispose();
            else view.Dispose();
            throw;
        }
    }

    /// <summary>Stops serving <paramref name="exportId"/> of <paramref name="disk"/>; false when there is no such export.</summary>
    public async Task<bool> RemoveAsync(string disk, string exportId)
    {
        if (!_served.TryGetValue(exportId, out var s) || s.Disk != disk || !_served.TryRemove(exportId, out s)) return false;
        await s.Server.DisposeAsync();
        s.Export.Dispose();
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in _served.Values.ToList()) await RemoveAsync(s.Disk, s.ExportId);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();
}
