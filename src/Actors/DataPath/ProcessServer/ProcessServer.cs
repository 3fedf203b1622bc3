using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Streams;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The process server's data path: agents connect to it, each delta is decoded and checked once (range, sequence,
/// checksum), appended to the disk's spool and acknowledged once fsync'd; a <see cref="Forwarder"/> per disk drains the
/// spool to the master target. This file holds the server and its disks (open, probe, resume at start); the agent
/// session is in ProcessServer.AgentSession.cs, its records' stream and spool writer in ProcessServer.SpoolStage.cs,
/// the requests routed between master target and agent in ProcessServer.Routing.cs, the writer, placement and
/// certificate checks and the storage faults in their own files.
/// </summary>
public sealed partial class ProcessServer : IAsyncDisposable
{
    readonly ProcessServerOptions _options;
    readonly IMaterializer _materializer;
    readonly Action<string> _log;
    readonly IDataPathEvents _events;
    readonly DeltaCompression _compression;
    readonly ConcurrentDictionary<string, Lazy<Task<(SpooledDisk Disk, Forwarder Forwarder)>>> _disks = new();
    readonly ConcurrentDictionary<string, AgentSession> _agentByDisk = new();
    // An agent's control-only connection (a hello with no disks): group holds go there, not behind its deltas.
    readonly ConcurrentDictionary<string, AcceptedControl> _controlByAgent = new();
    readonly PendingReplies<BookmarkInserted> _bookmarks = new();
    // Completed by the control connection's own thread, which then runs what follows (no thread-pool turn).
    readonly PendingReplies<ControlMessage> _agentReplies = new(completeOnReceiverThread: true);
    readonly ConcurrentDictionary<string, AgentSession> _hashRequests = new();
    readonly CancellationTokenSource _stop = new();
    readonly List<Task> _background = [];
    SessionListener? _listener;

    public ProcessServer(ProcessServerOptions options, IMaterializer materializer, Action<string> log, IDataPathEvents? events = null)
    {
        _options = options;
        _events = events ?? new NoDataPathEvents();
        _materializer = materializer;
        _log = log;
        _compression = new DeltaCompression(options.CompressionLevel);
    }

    public IPEndPoint? BoundEndpoint => _listener?.BoundEndpoint;

    /// <summary>Ends the live sessions of the agents whose certificate <paramref name="which"/> names (see <see cref="SessionListener.Close"/>).</summary>
    public IReadOnlyList<HopPeer> CloseSessions(Func<HopPeer, bool> which, string why) => _listener?.Close(which, why, _log) ?? [];

    /// <summary>Bytes held in the cache across all disks.</summary>
    public long CacheUsedBytes => _disks.Values.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully).Sum(l => l.Value.Result.Disk.Spool.SizeBytes);

    /// <summary>Waits while the cache is over its size; the agent's sends back up meanwhile.</summary>
    internal async ValueTask WaitForCacheRoomAsync(CancellationToken ct)
    {
        var warned = false;
        while (CacheUsedBytes > _options.CacheBytes)
        {
            if (!warned) { _log($"process server: cache holds {CacheUsedBytes >> 20} MiB, over its {_options.CacheBytes >> 20} MiB; holding agents back"); warned = true; }
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }
    internal void Log(string message) => _log(message);

    /// <summary>Per disk: last sequence spooled, durable here, acknowledged by the master target, and bytes held.</summary>
    public IReadOnlyDictionary<string, (long Spooled, long Durable, long TargetAcked, long CacheBytes)> Disks =>
        _disks.Where(kv => kv.Value.IsValueCreated && kv.Value.Value.IsCompletedSuccessfully)
              .Select(kv => kv.Value.Value.Result.Disk)
              .ToDictionary(d => d.DiskId, d => (d.Spool.LastSequence, d.Spool.DurableSequence, d.TargetAcked, d.Spool.SizeBytes));

    public Task StartAsync()
    {
        Directory.CreateDirectory(_options.CacheDirectory);
        _listener = new SessionListener("process server", _options.Listen, _options.MaxConnections, _options.ListenTls);
        // Disks already in the cache resume forwarding at once, before their agent reconnects.
        foreach (var dir in Directory.EnumerateDirectories(_options.CacheDirectory))
        {
            var sizeFile = SizeFile(dir);
            if (!File.Exists(sizeFile)) continue;
            long size;
            try { size = ReadSize(sizeFile); }
            catch (DurableFileUnreadableException e)
            {
                // One disk's damaged file does not keep the others from starting; its agent's offers are refused with this.
                _log($"process server: disk {Path.GetFileName(dir)} not resumed: {e.Message}");
                continue;
            }
            _ = GetDiskAsync(Path.GetFileName(dir), size, ReadMachine(dir));
        }
        lock (_background)
        {
            _background.Add(_listener.AcceptAsync((hop, ct) => new AgentSession(this, hop).RunAsync(ct), _log, _stop.Token));
            _background.Add(new ControlLink(this, _options, _log).RunAsync(_stop.Token));
        }
        return Task.CompletedTask;
    }

    internal Task<(SpooledDisk Disk, Forwarder Forwarder)> GetDiskAsync(string diskId, long size, string? machineId = null)
    {
        if (!PathNames.IsOneComponent(diskId))
            throw new InvalidDataException($"disk id '{diskId}' is not a valid name");
        var lazy = _disks.GetOrAdd(diskId, id => new Lazy<Task<(SpooledDisk, Forwarder)>>(() => OpenDiskAsync(id, size, machineId)));
        if (lazy.Value.IsFaulted)
        {
            // A failed open (a damaged size file, a size mismatch) is tried again at the next offer, once the operator has acted.
            _disks.TryRemove(KeyValuePair.Create(diskId, lazy));
            lazy = _disks.GetOrAdd(diskId, id => new Lazy<Task<(SpooledDisk, Forwarder)>>(() => OpenDiskAsync(id, size, machineId)));
        }
        return lazy.Value;
    }

    /// <summary>The disk's size beside its spool, so forwarding resumes at start before its agent reconnects.</summary>
    internal static string SizeFile(string diskDirectory) => Path.Combine(diskDirectory, "size");

    /// <summary>
    /// The machine (agent) a cached disk belongs to, beside its size: a disk resumed at start offers it to the master
    /// target, which otherwise would not know whose disk it is until a write came (a planned failover, a group bookmark
    /// right after a restart ask the master target which disks a machine has).
    /// </summary>
    internal static string MachineFile(string diskDirectory) => Path.Combine(diskDirectory, "machine");

    /// <summary>The recorded machine of a cached disk, or null (none recorded by an older version, or unreadable: said in the log).</summary>
    string? ReadMachine(string diskDirectory)
    {
        var path = MachineFile(diskDirectory);
        if (!File.Exists(path)) return null;
        try
        {
            return DurableFile.Read(path, "process server disk machine file", bytes =>
                Encoding.UTF8.GetString(bytes) is { Length: > 0 } id && !id.Any(char.IsControl) ? id : throw new FormatException("the machine id is empty or holds control characters"),
                "Delete it: the agent's next offer records the machine again.");
        }
        catch (DurableFileUnreadableException e)
        {
            _log($"process server: disk {Path.GetFileName(diskDirectory)}: {e.Message}");
            return null;
        }
    }

    internal static long ReadSize(string path) => DurableFile.Read(path, "process server disk size file", bytes =>
    {
        var size = long.Parse(Encoding.ASCII.GetString(bytes), NumberStyles.Integer, CultureInfo.InvariantCulture);
        return size > 0 ? size : throw new FormatException($"size {size} is not positive");
    }, "Delete it to let the disk be re-offered: its agent's next offer records the size it carries (the spool beside it is kept).");

    async Task<(SpooledDisk, Forwarder)> OpenDiskAsync(string diskId, long size, string? machineId)
    {
        var dir = Path.Combine(_options.CacheDirectory, diskId);
        Directory.CreateDirectory(dir);
        var sizeFile = SizeFile(dir);
        if (File.Exists(sizeFile) && ReadSize(sizeFile) is var cached && cached != size)
            throw new InvalidDataException($"disk {diskId}: offered with size {size} but cached with size {cached} ('{sizeFile}'; if that file is damaged, delete it to let the disk be re-offered)");
        DurableFile.WriteIfChanged(sizeFile, Encoding.ASCII.GetBytes(size.ToString(CultureInfo.InvariantCulture)), null, "size");
        if (machineId is { Length: > 0 }) DurableFile.WriteIfChanged(MachineFile(dir), Encoding.UTF8.GetBytes(machineId), null, "machine");

        // Ask the master target how far it is before opening the spool: an empty spool starts right after it.
        var probe = await ProbeTargetAsync(diskId, size, machineId).ConfigureAwait(false);
        var spoolDir = Path.Combine(dir, "spool");
        var spoolOptions = _options.Spool with { InitialSequence = probe + 1 };
        var spool = SegmentLog.Open(spoolDir, spoolOptions);
        if (spool.LastSequence < probe)
        {
            // Everything the spool holds is already at the target (or the spool was lost): start after the target.
            spool.Dispose();
            Directory.Delete(spoolDir, recursive: true);
            spool = SegmentLog.Open(spoolDir, spoolOptions);
        }
        if (spool.Recovery is { } report && report.ToString() is { Length: > 0 } text) _log($"disk {diskId}: spool recovery: {text}");
        var disk = new SpooledDisk(diskId, size, spool, probe, machineId, _options.ForwardMemoryBytes, spoolOptions);
        var forwarder = new Forwarder(this, disk, _options, _compression, _materializer);
        lock (_background) _background.Add(forwarder.RunAsync(_stop.Token));
        await forwarder.ConnectedOnce.WaitAsync(_stop.Token).ConfigureAwait(false);
        return (disk, forwarder);
    }

    /// <summary>How far the master target is with <paramref name="diskId"/>; retried while it cannot be reached, not when it refuses.</summary>
    Task<long> ProbeTargetAsync(string diskId, long size, string? machineId) => _options.MasterTargetReconnect.RetryAsync(async ct =>
        {
            await using var hop = await HopConnector.ConnectAsync(_options.MasterTarget, _options.MasterTargetTls, "master target", ct).ConfigureAwait(false);
            var net = hop.Stream;
            var resume = await SessionHandshake.OpenAsync(net, net, new Hello(_options.ServerId, [new DiskOffer(diskId, size, machineId)]), "master target", ct).ConfigureAwait(false);
            return resume.DurableThrough.TryGetValue(diskId, out var v) ? v : 0;
        },
        e => e is IOException or SocketException,
        (e, _) => _log($"disk {diskId}: master target {_options.MasterTarget} not reachable ({e.Message}); retrying"), _stop.Token);

    /// <summary>This process server's id, as its master target knows it.</summary>
    public string ServerId => _options.ServerId;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        foreach (var s in _agentByDisk.Values.Distinct()) s.Close();
        foreach (var s in _controlByAgent.Values) s.Close();
        Task[] tasks;
        lock (_background) tasks = _background.ToArray();
        try { await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false); } catch (Exception) { }
        foreach (var lazy in _disks.Values)
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
            {
                var d = lazy.Value.Result.Disk;
                await d.WriteGate.WaitAsync().ConfigureAwait(false);
                // A disk stopped by a storage fault has its spool closed already, at what was durable.
                try { if (d.Fault is null) { d.Spool.Flush(); d.Spool.Dispose(); } } finally { d.WriteGate.Release(); }
            }
        _compression.Dispose();
    }
}
