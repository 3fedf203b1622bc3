using System.Collections.Concurrent;
using System.Net;
using SiteRecovery.Capture;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Journal.PointInTime;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Node.Exports;

/// <summary>One served point: its NBD server (own listener) and export.</summary>
public sealed record ServedPoint(string ExportId, string Disk, long Sequence, bool Writable, string Uri, string ExportName, DateTimeOffset Created, PointInTimeExport Export, NbdServer Server);

/// <summary>
/// The recovery points this node serves over NBD (instant test failover). Each export has its own listener, so
/// the caller chooses the address; deleting an export closes its connections, releases the point's pin and
/// deletes its copy-on-write overlay.
/// </summary>
public sealed class PointInTimeExports : IAsyncDisposable
{
    readonly ConcurrentDictionary<string, ServedPoint> _served = new();
    readonly string _overlayDirectory;
    readonly Action<string> _log;

    /// <summary>
    /// Exports live as long as the node: an overlay left in <paramref name="overlayDirectory"/> by a node that was killed
    /// belongs to an export that no longer exists, so it is deleted here.
    /// </summary>
    public PointInTimeExports(string overlayDirectory, Action<string> log)
    {
        _overlayDirectory = overlayDirectory;
        _log = log;
        if (!Directory.Exists(overlayDirectory)) return;
        foreach (var stale in Directory.EnumerateFiles(overlayDirectory, "*.overlay"))
        {
            File.Delete(stale);
            log($"export overlay {Path.GetFileName(stale)} left by an earlier run deleted");
        }
    }

    public IEnumerable<ServedPoint> For(string disk) => _served.Values.Where(s => s.Disk == disk).OrderBy(s => s.Created);

    /// <summary>Serves <paramref name="view"/> (taking ownership of it) at <paramref name="listen"/>.</summary>
    public async Task<ServedPoint> AddAsync(string disk, PointInTimeView view, bool writable, IPEndPoint listen)
    {
        var id = Guid.NewGuid().ToString("n")[..12];
        var name = $"{disk}@{view.Sequence}-{id}";
        PointInTimeExport? export = null;
        NbdServer? server = null;
        try
        {
            string? overlay = null;
            if (writable)
            {
                Directory.CreateDirectory(_overlayDirectory);
                overlay = Path.Combine(_overlayDirectory, $"{id}.overlay");
            }
            export = new PointInTimeExport(name, view, overlay);
            server = new NbdServer(listen, new Dictionary<string, INbdExport> { [name] = export }, new NbdServerOptions { Log = _log });
            await server.StartAsync();
            var ep = (IPEndPoint)server.LocalEndPoint!;
            var host = ep.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]" : ep.Address.ToString();
            var served = new ServedPoint(id, disk, view.Sequence, writable, $"nbd://{host}:{ep.Port}/{Uri.EscapeDataString(name)}", name, DateTimeOffset.UtcNow, export, server);
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
}
