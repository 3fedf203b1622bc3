using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The session: one process-server connection, nested so it works on the server's tables directly. Apart because it
/// is the data path's receive loop (hello and resume, validate, append, commit and acknowledge, control replies, the
/// stop at a storage fault and the reopen after it), the hot path the other parts stay off.
/// </summary>
public sealed partial class MasterTargetServer
{
    /// <summary>One process-server connection.</summary>
    sealed class Session(MasterTargetServer server, HopConnection hop)
    {
        readonly Socket socket = hop.Socket;
        HopConnection? _net;
        FrameSender? _sender;
        readonly Dictionary<string, ReplicaDisk> _disks = new();
        DateTime _lastProgress = DateTime.MinValue;

        public void Close() => socket.Dispose();

        public async Task SendAsync(ControlMessage m, CancellationToken ct)
        {
            var sender = _sender ?? throw new IOException("the session has not started");
            await sender.SendAsync(m, ct).ConfigureAwait(false);
        }

        public async Task RunAsync(CancellationToken ct)
        {
            var peer = hop.Remote;
            try
            {
                _net = hop;
                _sender = new FrameSender(hop.Stream);
                var input = new FrameReader(hop.Stream);
                if (await SessionHandshake.AcceptAsync(input, SendAsync, ct, hop: hop).ConfigureAwait(false) is not { } hello) return;
                var resume = new Dictionary<string, long>();
                if (hello.Disks.Count == 0)
                {
                    // The process server waits for resume before sending anything else: nothing is buffered past the hello.
                    if (input.BufferedBytes > 0) throw new InvalidDataException($"process server {hello.SourceId} sent more before its control hello was answered");
                    await AcceptedControl.ServeAsync(hello, hop, server._agentReplies, server._controlByServer, server._log, ct).ConfigureAwait(false);
                    return;
                }
                // Every disk's size is checked before any is opened: a refused hello leaves nothing made for any of its disks.
                if (DiskSizeLimit.Problem(hello, server._options.MaxDiskSize, "master target") is { } badSize)
                {
                    await SendAsync(new Refused(badSize), ct).ConfigureAwait(false);
                    return;
                }
                foreach (var offer in hello.Disks)
                {
                    ReplicaDisk disk;
                    try { disk = await OpenOrReopenAsync(offer).ConfigureAwait(false); }
                    catch (Exception e) when (e is InvalidDataException or IOException)
                    {
                        await SendAsync(new Refused(e.Message), ct).ConfigureAwait(false);
                        return;
                    }
                    _disks[offer.DiskId] = disk;
                    // An earlier connection may have appended without committing: everything a process
                    // server forwards was durable in its spool, so commit it and resume after it.
                    if (server._sessionByDisk.TryGetValue(offer.DiskId, out var previous) && previous != this) previous.Close();
                    server._sessionByDisk[offer.DiskId] = this;
                    server._serverByDisk[offer.DiskId] = hello.SourceId;
                    if (offer.MachineId is { Length: > 0 } machine) server._machineByDisk[offer.DiskId] = machine;
                    await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                    try { await disk.CommitAsync(ct).ConfigureAwait(false); }
                    catch (IOException e) { throw StorageFailed(disk, e); }
                    finally { disk.Gate.Release(); }
                    resume[offer.DiskId] = disk.DurableThrough;
                    server._events.DiskAttached(offer.DiskId, offer.MachineId, offer.SizeBytes, hello.SourceId, disk.Replica is SiteRecovery.Journal.Replicas.Local.LocalFileReplicaStore l ? l.Path : offer.DiskId);
                }
                await SendAsync(SessionHandshake.ResumeFor(hello, resume), ct).ConfigureAwait(false);
                input.MaxFrame = FrameIo.MaxFrame;
                await ReceiveAsync(input, ct).ConfigureAwait(false);
            }
            catch (DeltaRefusedException e)
            {
                server._log($"master target: connection from {peer} closed: {e.Message}");
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or InvalidDataException or DeltaFormatException or ObjectDisposedException or OperationCanceledException)
            {
                if (!ct.IsCancellationRequested) server._log($"master target: connection from {peer} ended: {e.Message}");
            }
            catch (Exception e)
            {
                // Nothing ends a connection silently: an unexpected failure is logged with its type before the socket closes.
                server._log($"master target: connection from {peer} failed ({e.GetType().Name}): {e.Message}");
            }
            finally
            {
                foreach (var id in _disks.Keys) server._sessionByDisk.TryRemove(new KeyValuePair<string, Session>(id, this));
                await hop.DisposeAsync().ConfigureAwait(false);
            }
        }

        async Task ReceiveAsync(FrameReader input, CancellationToken ct)
        {
            var dirty = new HashSet<ReplicaDisk>();
            var points = new List<(ReplicaDisk Disk, Delta Marker)>();
            var times = new Dictionary<string, List<long>>();
            var uncommitted = 0L;
            while (true)
            {
                // Never wait for the next frame with uncommitted deltas: whatever path the previous frame
                // took (applied, skipped as a resend, nak'd), what is appended gets made durable and acked.
                if (dirty.Count > 0 && input.BufferedBytes == 0 && !_net!.DataAvailable)
                {
                    await CommitAsync(dirty, points, ct).ConfigureAwait(false);
                    ReportLag(times);
                    uncommitted = 0;
                }
                var next = await input.ReadPooledAsync(ct).ConfigureAwait(false);
                if (next is not { } frame) break;
                using var recycled = frame;
                if (frame.Type == FrameType.Control)
                {
                    HandleControl(ControlMessage.Parse(frame.Body.Span));
                }
                else
                {
                    var body = frame.Body;
                    var header = DeltaCodec.Decode(body, out var compressed);
                    if (!_disks.TryGetValue(header.DiskId, out var disk))
                        throw new InvalidDataException($"delta for disk {header.DiskId}, which this connection did not offer");
                    // Checked before anything else, the sequence included: a refused record ends the connection, nothing stored.
                    if (DeltaValidation.Check(header, disk.Size, compressed) is { } violation)
                        throw new DeltaRefusedException(disk.DiskId, header.Sequence, violation);
                    await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                    try
                    {
                        if (header.Sequence <= disk.AppliedThrough) continue; // a resend overlap: already here
                        if (header.Sequence != disk.AppliedThrough + 1)
                        {
                            await SendAsync(new Nak(disk.DiskId, disk.AppliedThrough + 1, $"expected #{disk.AppliedThrough + 1}, got #{header.Sequence}"), ct).ConfigureAwait(false);
                            continue;
                        }
                        Delta delta;
                        // A write is applied before the pooled frame goes back: its payload may point into it. A marker is kept in
                        // `points` past this frame, so it gets its own copy.
                        try { delta = server._compression.DecodeStored(body, aliasUncompressed: header.Kind == DeltaKind.Write); }
                        catch (ChecksumMismatchException e)
                        {
                            await SendAsync(new Nak(disk.DiskId, header.Sequence, e.Message), ct).ConfigureAwait(false);
                            continue;
                        }
                        if (compressed && DeltaValidation.Check(delta, disk.Size) is { } decompressed)
                            throw new DeltaRefusedException(disk.DiskId, delta.Sequence, decompressed);
                        try { await disk.AppendAsync(delta, body, ct).ConfigureAwait(false); }
                        catch (IOException e) { throw StorageFailed(disk, e); }
                        if (delta.Kind == DeltaKind.Bookmark) points.Add((disk, delta));
                        if (server._options.LagObserver is not null)
                        {
                            if (!times.TryGetValue(disk.DiskId, out var list)) times[disk.DiskId] = list = [];
                            list.Add(delta.TimeUnixMs);
                        }
                        dirty.Add(disk);
                        uncommitted += body.Length;
                    }
                    finally { disk.Gate.Release(); }
                }
                if (dirty.Count > 0 && (input.BufferedBytes == 0 && !_net!.DataAvailable || uncommitted >= server._options.CommitBytes))
                {
                    await CommitAsync(dirty, points, ct).ConfigureAwait(false);
                    ReportLag(times);
                    uncommitted = 0;
                }
            }
            if (dirty.Count > 0) await CommitAsync(dirty, points, ct).ConfigureAwait(false);
            ReportLag(times);
        }

        void ReportLag(Dictionary<string, List<long>> times)
        {
            if (server._options.LagObserver is not { } observer || times.Count == 0) return;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var (disk, list) in times) observer(disk, list.Select(t => now - t).ToList());
            times.Clear();
        }

        async Task CommitAsync(HashSet<ReplicaDisk> dirty, List<(ReplicaDisk Disk, Delta Marker)> points, CancellationToken ct)
        {
            foreach (var disk in dirty)
            {
                long durable;
                await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
                try { durable = await disk.CommitAsync(ct).ConfigureAwait(false); }
                catch (IOException e) { throw StorageFailed(disk, e); }
                finally { disk.Gate.Release(); }
                await SendAsync(new Ack(disk.DiskId, durable), ct).ConfigureAwait(false);
            }
            foreach (var (disk, marker) in points)
                server.MarkerDurable(disk.DiskId, marker);
            points.Clear();
            if (DateTime.UtcNow - _lastProgress >= server._options.ProgressInterval)
            {
                _lastProgress = DateTime.UtcNow;
                var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                foreach (var disk in dirty) server._events.ReplicationProgress(disk.DiskId, disk.DurableThrough, now, disk.BytesApplied);
            }
            dirty.Clear();
        }

        /// <summary>
        /// Stops <paramref name="disk"/> at a storage fault (see <see cref="ReplicaDisk.Stop"/>): reported once, closed in the
        /// background without committing, and the returned exception ends this connection with nothing acknowledged past it.
        /// </summary>
        IOException StorageFailed(ReplicaDisk disk, Exception error)
        {
            var (fault, isNew) = disk.Stop(error);
            var text = $"disk {disk.DiskId}: replication stopped after #{fault.StoppedAfter}: {fault.Reason}: {fault.Detail}";
            if (isNew)
            {
                server._log(text + "; nothing past it is acknowledged; the disk is reopened from its journal once the storage takes writes again");
                server._events.ReplicationStopped(disk.DiskId, fault.Reason, fault.StoppedAfter, fault.Detail);
                _ = Task.Run(disk.CloseAfterFaultAsync);
            }
            return new IOException(text, error);
        }

        /// <summary>
        /// The disk of a hello: opened (a failed open is forgotten, so the next hello tries again), or, when a storage fault
        /// stopped it, closed, the storage proved writable, and opened afresh from its journal (the redo brings the replica
        /// up to it); only then does the disk resume. Throws <see cref="IOException"/> while the storage still fails.
        /// </summary>
        async Task<ReplicaDisk> OpenOrReopenAsync(DiskOffer offer)
        {
            var opening = server.OpenDiskAsync(offer.DiskId, offer.SizeBytes);
            ReplicaDisk disk;
            try { disk = await opening.ConfigureAwait(false); }
            catch (IOException)
            {
                if (server._disks.TryGetValue(offer.DiskId, out var failed) && failed.IsValueCreated && failed.Value == opening)
                    server._disks.TryRemove(new KeyValuePair<string, Lazy<Task<ReplicaDisk>>>(offer.DiskId, failed));
                throw;
            }
            if (disk.Fault is not { } fault) return disk;
            await disk.CloseAfterFaultAsync().ConfigureAwait(false);
            disk.Journal.CloseAtDurable(); // finishes the cut back to the last fsync if the close could not
            var directory = server.DiskDirectory(offer.DiskId);
            ReplicaDisk.ProbeStorage(directory, server._options.Journal);
            var fresh = await ReplicaDisk.OpenAsync(directory, offer.DiskId, offer.SizeBytes, server._stores, server._compression, server._options.Journal,
                server._options.ReplicaFlushInterval, server._stop.Token, server._options.Retention, server._log, server._options.Clock).ConfigureAwait(false);
            server._disks[offer.DiskId] = new Lazy<Task<ReplicaDisk>>(Task.FromResult(fresh));
            server._log($"disk {offer.DiskId}: reopened at #{fresh.DurableThrough} after {fault.Reason}; replication resumes");
            server._events.ReplicationResumed(offer.DiskId);
            return fresh;
        }

        async Task AnswerHashesAsync(BlockHashRequest req)
        {
            BlockHashReply reply;
            try
            {
                if (!_disks.TryGetValue(req.DiskId, out var disk)) throw new InvalidDataException($"disk {req.DiskId} is not on this connection");
                if (req.BlockSize is < 4096 or > 16 << 20 || req.Count is < 1 or > 4096 || req.Offset < 0 || req.Offset >= disk.Size)
                    throw new InvalidDataException($"hash request for {req.DiskId} is out of range (block {req.BlockSize}, count {req.Count}, offset {req.Offset})");
                var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
                while (disk.DurableThrough < req.AfterSequence)
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"disk {req.DiskId} did not reach #{req.AfterSequence} (at #{disk.DurableThrough})");
                    await Task.Delay(10).ConfigureAwait(false);
                }
                var hashes = new List<ulong>(req.Count);
                var buffer = new byte[req.BlockSize];
                await disk.Gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    for (var i = 0; i < req.Count; i++)
                    {
                        var offset = req.Offset + (long)i * req.BlockSize;
                        if (offset >= disk.Size) break;
                        var n = (int)Math.Min(req.BlockSize, disk.Size - offset);
                        await disk.Replica.ReadAsync(offset, buffer.AsMemory(0, n)).ConfigureAwait(false);
                        hashes.Add(System.IO.Hashing.XxHash3.HashToUInt64(buffer.AsSpan(0, n)));
                    }
                }
                finally { disk.Gate.Release(); }
                reply = new BlockHashReply(req.RequestId, req.DiskId, req.Offset, hashes, null);
            }
            catch (Exception e) when (e is InvalidDataException or TimeoutException or IOException)
            {
                reply = new BlockHashReply(req.RequestId, req.DiskId, req.Offset, [], e.Message);
            }
            try { await SendAsync(reply, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }

        void HandleControl(ControlMessage m)
        {
            switch (m)
            {
                case BookmarkInserted b when server._bookmarks.Complete(b.RequestId, b):
                    break;
                case IAgentReply r when server._agentReplies.Complete(r.RequestId, m):
                    break;
                case ResyncNotice n:
                    server._events.Resync(n);
                    break;
                case StorageFaultNotice n:
                    // A process server's spool failed under the disk, or was reopened: the disk's alert follows it.
                    server._log($"disk {n.DiskId}: process server reports replication {(n.Cleared ? "resumed" : $"stopped after #{n.StoppedAfter}: {n.Reason}: {n.Detail}")}");
                    if (n.Cleared) server._events.ReplicationResumed(n.DiskId);
                    else server._events.ReplicationStopped(n.DiskId, n.Reason, n.StoppedAfter, n.Detail);
                    break;
                case BlockHashRequest req:
                    // Off the receive loop: the hashes wait for deltas this very loop applies.
                    _ = Task.Run(() => AnswerHashesAsync(req));
                    break;
                default:
                    server._log($"master target: ignoring {m.GetType().Name}");
                    break;
            }
        }
    }
}
