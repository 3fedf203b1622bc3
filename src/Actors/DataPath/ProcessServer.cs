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
/// The process server's data path: agents connect to it, each delta is checked (sequence, checksum,
/// range), appended to the disk's spool and acknowledged once fsync'd; a <see cref="Forwarder"/> per
/// disk drains the spool to the master target.
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

    /// <summary>Passes a bookmark request to the agent that owns the disks and returns its answer.</summary>
    internal async Task<BookmarkInserted> RouteBookmarkAsync(BookmarkRequest req, CancellationToken ct)
    {
        // A marker the hops would refuse must never be numbered: the agent would resend it forever.
        if (DeltaValidation.BookmarkIdProblem(req.BookmarkId) is { } badId)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), badId);
        var owners = req.DiskIds.Select(d => _agentByDisk.TryGetValue(d, out var s) ? s : null).Distinct().ToList();
        if (owners.Count != 1 || owners[0] is null)
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(),
                owners.Contains(null) ? $"no agent is connected for one of {string.Join(", ", req.DiskIds)}" : "the disks belong to more than one agent");
        using var answer = _bookmarks.Expect(req.RequestId);
        try
        {
            await owners[0]!.SendAsync(req, ct).ConfigureAwait(false);
            return await answer.Reply.WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException)
        {
            return new BookmarkInserted(req.RequestId, req.BookmarkId, new Dictionary<string, long>(), $"agent did not answer: {e.Message}");
        }
    }

    /// <summary>This process server's id, as its master target knows it.</summary>
    public string ServerId => _options.ServerId;

    /// <summary>
    /// Passes a group-hold request (hold, commit, abort) to the one agent connected for its disks and returns
    /// the agent's answer, or the request's own failure reply when the agent is not connected, the disks span
    /// agents, or no answer comes in time: the master target always hears back.
    /// </summary>
    internal async Task<ControlMessage> RouteToAgentAsync(IAgentRequest req, CancellationToken ct)
    {
        var owners = req.DiskIds.Select(d => _agentByDisk.TryGetValue(d, out var s) ? s : null).Distinct().ToList();
        if (owners.Count != 1 || owners[0] is null)
            return req.Failed(owners.Contains(null) ? $"no agent is connected for one of {string.Join(", ", req.DiskIds)}" : "the disks belong to more than one agent");
        var control = owners[0]!.AgentId is { } agent && _controlByAgent.TryGetValue(agent, out var c) ? c : null;
        using var answer = _agentReplies.Expect(req.RequestId);
        // A hold may run the application freeze first: it gets its whole lease before the process server gives up.
        var wait = req is HoldRequest h ? TimeSpan.FromMilliseconds(Math.Max(h.LeaseMs, 0) + 5000) : TimeSpan.FromSeconds(30);
        try
        {
            if (control is not null) control.Send((ControlMessage)req);
            else await owners[0]!.SendAsync((ControlMessage)req, ct).ConfigureAwait(false);
            return await answer.Reply.WaitAsync(wait, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or ObjectDisposedException)
        {
            return req.Failed($"agent did not answer: {e.Message}");
        }
    }

    /// <summary>Passes a master target's block hashes back to the agent that asked.</summary>
    internal async Task RouteHashReplyAsync(BlockHashReply reply, CancellationToken ct)
    {
        if (!_hashRequests.TryRemove(reply.RequestId, out var session)) return;
        try { await session.SendAsync(reply, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    }

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

    /// <summary>One agent connection.</summary>
    sealed class AgentSession(ProcessServer server, HopConnection hop)
    {
        readonly Socket socket = hop.Socket;
        readonly Dictionary<string, (SpooledDisk Disk, Forwarder Forwarder)> _disks = new();
        HopConnection? _net;
        FrameSender? _sender;
        readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Close() => socket.Dispose();

        /// <summary>The agent's id from its hello (null before it).</summary>
        public string? AgentId { get; private set; }

        /// <summary>The writer epoch of its hello (0 before it): a session of a higher epoch replaces this one.</summary>
        public long Epoch { get; private set; }

        /// <summary>The writer's public key from its hello: epochs compare only between sessions of one writer.</summary>
        public string? WriterKey { get; private set; }

        /// <summary>Completes when this session has stopped touching its disks' spools.</summary>
        public Task Ended => _ended.Task;

        public async Task SendAsync(ControlMessage m, CancellationToken ct)
        {
            var sender = _sender ?? throw new IOException("the session has not started");
            await sender.SendAsync(m, ct).ConfigureAwait(false);
        }

        public async Task RunAsync(CancellationToken ct)
        {
            var peer = hop.Peer is { } certified ? $"{hop.Remote}, TLS as {certified}" : hop.Remote;
            try
            {
                _net = hop;
                _sender = new FrameSender(hop.Stream);
                var reader = new FrameReader(hop.Stream);
                if (await SessionHandshake.AcceptAsync(reader, SendAsync, ct, hop: hop).ConfigureAwait(false) is not { } hello) return;
                // A certified agent speaks only with its certified key and only for its own machine's disks.
                if (server.CertifiedAgentProblem(hop, hello) is { } notCertified)
                {
                    await SendAsync(new Refused(notCertified), ct).ConfigureAwait(false);
                    return;
                }
                if (await server.PlacementProblemAsync(hop, hello, ct).ConfigureAwait(false) is { } notPlaced)
                {
                    await SendAsync(new Refused(notPlaced), ct).ConfigureAwait(false);
                    return;
                }
                AgentId = hello.SourceId;
                Epoch = hello.Writer?.Epoch ?? 0;
                WriterKey = hello.Writer?.PublicKey;
                if (hello.Disks.Count == 0)
                {
                    // Bookmark and hold requests go to the control connection of a source: only its disks' writer may hold it.
                    if (await server.AdmitControlWriterAsync(hello, ct).ConfigureAwait(false) is { } notTheWriter)
                    {
                        await SendAsync(new Refused(notTheWriter), ct).ConfigureAwait(false);
                        return;
                    }
                    // The agent's control connection: no disks, only group holds and their answers.
                    // The agent waits for resume before sending anything else, so nothing is buffered past the hello.
                    if (reader.BufferedBytes > 0) throw new InvalidDataException($"agent {hello.SourceId} sent more before its control hello was answered");
                    await AcceptedControl.ServeAsync(hello, hop, server._agentReplies, server._controlByAgent, server._log, ct).ConfigureAwait(false);
                    return;
                }
                var resume = new Dictionary<string, long>();
                // Every disk's size is checked before any is opened: a refused hello leaves nothing made for any of its disks.
                if (DiskSizeLimit.Problem(hello, server._options.MaxDiskSize, "process server") is { } badSize)
                {
                    await SendAsync(new Refused(badSize), ct).ConfigureAwait(false);
                    return;
                }
                // The writer before anything is made or touched for a disk: a refused writer changes nothing, closes no session.
                if (await server.AdmitDiskWriterAsync(hello, ct).ConfigureAwait(false) is { } refusedWriter)
                {
                    await SendAsync(new Refused(refusedWriter), ct).ConfigureAwait(false);
                    return;
                }
                foreach (var offer in hello.Disks)
                {
                    try { _disks[offer.DiskId] = await server.GetDiskAsync(offer.DiskId, offer.SizeBytes, offer.MachineId ?? hello.SourceId).WaitAsync(ct).ConfigureAwait(false); }
                    catch (Exception e) when (e is InvalidDataException or DurableFileUnreadableException)
                    {
                        await SendAsync(new Refused(e.Message), ct).ConfigureAwait(false);
                        return;
                    }
                    // A disk stopped by a storage fault takes nothing until its spool is reopened: the agent keeps its writes and retries.
                    if (StoppedRefusal(_disks[offer.DiskId].Disk) is { } stopped)
                    {
                        await SendAsync(new Refused(stopped), ct).ConfigureAwait(false);
                        return;
                    }
                }
                // A previous connection of these disks may still be appending (its peer died unseen):
                // end it first, then make whatever it appended durable. Those deltas passed their checks
                // and are the agent's real writes; once durable, resume is exactly the spool's last
                // sequence, so a restarted agent's new deltas are never mistaken for resends.
                foreach (var old in _disks.Keys.Select(id => server._agentByDisk.TryGetValue(id, out var o) ? o : null).OfType<AgentSession>().Where(o => o != this && (o.WriterKey != WriterKey || o.Epoch <= Epoch)).Distinct().ToList())
                {
                    old.Close();
                    try { await old.Ended.WaitAsync(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false); }
                    catch (TimeoutException) { server._log($"agent {hello.SourceId}: previous connection did not end within 10 s"); }
                }
                foreach (var (id, entry) in _disks)
                {
                    await entry.Disk.WriteGate.WaitAsync(ct).ConfigureAwait(false);
                    // The fence: from here only this session appends to and acknowledges the disk, even if an older one
                    // (half-open, or slow to end) still has frames buffered. Two sessions of one writer racing here: the
                    // higher epoch keeps the disk whichever comes second.
                    if (entry.Disk.Session is AgentSession newer && newer != this && newer.WriterKey == WriterKey && newer.Epoch > Epoch)
                    {
                        entry.Disk.WriteGate.Release();
                        throw new SessionFencedException($"disk {id}: a newer session of agent {AgentId} (epoch {newer.Epoch}) took it over before this one (epoch {Epoch})");
                    }
                    entry.Disk.Session = this;
                    // Requests for the disk (bookmarks, holds) go to the session that holds it, never to a fenced one.
                    server._agentByDisk[id] = this;
                    try { entry.Disk.Spool.Flush(); }
                    catch (IOException e) { throw server.SpoolFailed(entry.Disk, entry.Forwarder, e); }
                    finally { entry.Disk.WriteGate.Release(); }
                    entry.Disk.SignalDurable();
                    resume[id] = entry.Disk.DurableThrough;
                }
                await SendAsync(SessionHandshake.ResumeFor(hello, resume), ct).ConfigureAwait(false);
                reader.MaxFrame = FrameIo.MaxFrame;
                server._log($"agent {hello.SourceId} ({peer}) connected: " + string.Join(", ", resume.Select(kv => $"{kv.Key} from #{kv.Value + 1}")));
                await ReceiveAsync(reader, ct).ConfigureAwait(false);
            }
            catch (SessionFencedException e)
            {
                server._log($"process server: agent connection {peer} fenced: {e.Message}");
            }
            catch (DeltaRefusedException e)
            {
                server._log($"process server: agent connection {peer} closed: {e.Message}");
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or InvalidDataException or DeltaFormatException or ObjectDisposedException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested) server._log($"process server: agent connection {peer} ended: {e.Message}");
            }
            catch (Exception e)
            {
                // Nothing ends a connection silently: an unexpected failure is logged with its type before the socket closes.
                server._log($"process server: agent connection {peer} failed ({e.GetType().Name}): {e.Message}");
            }
            finally
            {
                foreach (var id in _disks.Keys) server._agentByDisk.TryRemove(new KeyValuePair<string, AgentSession>(id, this));
                await hop.DisposeAsync().ConfigureAwait(false);
                _ended.TrySetResult();
            }
        }

        async Task ReceiveAsync(FrameReader reader, CancellationToken ct)
        {
            var dirty = new HashSet<SpooledDisk>();
            var uncommitted = 0L;
            var naked = new HashSet<string>();
            while (true)
            {
                // Never wait for the next frame with deltas appended but not fsync'd and acknowledged.
                if (dirty.Count > 0 && reader.BufferedBytes == 0 && !_net!.DataAvailable)
                {
                    await CommitAsync(dirty, ct).ConfigureAwait(false);
                    uncommitted = 0;
                }
                if (reader.BufferedBytes == 0) await server.WaitForCacheRoomAsync(ct).ConfigureAwait(false);
                var next = await reader.ReadPooledAsync(ct).ConfigureAwait(false);
                if (next is not { } frame) break;
                var handedOver = false;
                try
                {
                    if (frame.Type == FrameType.Control)
                    {
                        await HandleControlAsync(ControlMessage.Parse(frame.Body.Span), ct).ConfigureAwait(false);
                    }
                    else
                    {
                        var body = frame.Body;
                        var delta = DeltaCodec.Decode(body, out var compressed);
                        if (!_disks.TryGetValue(delta.DiskId, out var entry))
                            throw new InvalidDataException($"delta for disk {delta.DiskId}, which this agent did not offer");
                        var disk = entry.Disk;
                        // Checked before anything else, the sequence included: a refused record ends the connection, nothing stored.
                        if (DeltaValidation.Check(delta, disk.Size, compressed) is { } violation)
                            throw new DeltaRefusedException(disk.DiskId, delta.Sequence, violation);
                        var expected = disk.Spool.LastSequence + 1;
                        if (delta.Sequence < expected) continue; // resend overlap
                        if (delta.Sequence > expected)
                        {
                            // One request to resend is enough: the agent rewinds and everything after arrives again in order.
                            if (naked.Add(disk.DiskId)) await SendAsync(new Nak(disk.DiskId, expected, $"expected #{expected}, got #{delta.Sequence}"), ct).ConfigureAwait(false);
                            continue;
                        }
                        if (compressed || !delta.IsIntact)
                        {
                            if (naked.Add(disk.DiskId)) await SendAsync(new Nak(disk.DiskId, expected, $"delta #{delta.Sequence} of {disk.DiskId} failed its checksum"), ct).ConfigureAwait(false);
                            continue;
                        }
                        naked.Remove(disk.DiskId);
                        await disk.WriteGate.WaitAsync(ct).ConfigureAwait(false);
                        try { Fenced(disk); disk.Spool.Append(body.Span, delta.Sequence); }
                        catch (IOException e) { throw server.SpoolFailed(disk, entry.Forwarder, e); }
                        finally { disk.WriteGate.Release(); }
                        // The spool has the record; the frame's buffer now serves the forwarder, which returns it to the pool.
                        disk.Recent.Add(delta.Sequence, frame.Buffer, frame.Length);
                        handedOver = true;
                        dirty.Add(disk);
                        uncommitted += body.Length;
                    }
                }
                finally { if (!handedOver) frame.Dispose(); }
                if (dirty.Count > 0 && (reader.BufferedBytes == 0 && !_net!.DataAvailable || uncommitted >= server._options.CommitBytes))
                {
                    await CommitAsync(dirty, ct).ConfigureAwait(false);
                    uncommitted = 0;
                }
            }
            if (dirty.Count > 0) await CommitAsync(dirty, ct).ConfigureAwait(false);
        }

        /// <summary>Throws when a newer session of the disk's writer took it over (caller holds the disk's write gate).</summary>
        void Fenced(SpooledDisk disk)
        {
            if (!ReferenceEquals(disk.Session, this))
                throw new SessionFencedException($"disk {disk.DiskId}: this session of agent {AgentId} was replaced by a newer one; its later frames are not applied");
        }

        async Task CommitAsync(HashSet<SpooledDisk> dirty, CancellationToken ct)
        {
            foreach (var disk in dirty)
            {
                await disk.WriteGate.WaitAsync(ct).ConfigureAwait(false);
                try { Fenced(disk); disk.Spool.Flush(); }
                catch (IOException e) { throw server.SpoolFailed(disk, _disks[disk.DiskId].Forwarder, e); }
                finally { disk.WriteGate.Release(); }
                disk.SignalDurable();
                await SendAsync(new Ack(disk.DiskId, disk.DurableThrough), ct).ConfigureAwait(false);
            }
            dirty.Clear();
        }

        async Task HandleControlAsync(ControlMessage m, CancellationToken ct)
        {
            switch (m)
            {
                case BookmarkInserted b when server._bookmarks.Complete(b.RequestId, b):
                    break;
                case IAgentReply r when server._agentReplies.Complete(r.RequestId, m):
                    break;
                case BlockHashRequest req when _disks.TryGetValue(req.DiskId, out var target):
                    server._hashRequests[req.RequestId] = this;
                    try { await target.Forwarder.SendControlAsync(req, ct).ConfigureAwait(false); }
                    catch (IOException e)
                    {
                        server._hashRequests.TryRemove(req.RequestId, out _);
                        await SendAsync(new BlockHashReply(req.RequestId, req.DiskId, req.Offset, [], $"master target not reachable: {e.Message}"), ct).ConfigureAwait(false);
                    }
                    break;
                case ResyncNotice n when _disks.TryGetValue(n.DiskId, out var entry):
                    try { await entry.Forwarder.SendControlAsync(n, ct).ConfigureAwait(false); }
                    catch (IOException e) { server._log($"disk {n.DiskId}: resync notice not passed on: {e.Message}"); }
                    break;
                default:
                    server._log($"process server: ignoring {m.GetType().Name} from an agent");
                    break;
            }
        }
    }
}
