using System.Net.Sockets;
using Akka;
using Akka.Actor;
using Akka.Streams.Dsl;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

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
        FrameSender? _sender;
        readonly Dictionary<string, ReplicaDisk> _disks = new();

        // The process server takes the first frame after its hello as the resume and ends the connection on anything
        // else, so a request from outside (a bookmark, an agent request) waits for the resume to have gone out; one sent
        // in between was lost with the connection it ended, and its caller waited out its whole timeout.
        readonly TaskCompletionSource _resumed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the connection has ended: a reply still awaited on it may never come.</summary>
        public Task Ended => _ended.Task;

        public void Close() => socket.Dispose();

        public async Task SendAsync(ControlMessage m, CancellationToken ct)
        {
            var sender = _sender ?? throw new IOException("the session has not started");
            await sender.SendAsync(m, ct).ConfigureAwait(false);
        }

        /// <summary>
        /// Sends a request once the session has resumed. Throws <see cref="ConnectionLostException"/>: not sent when the
        /// connection ended before its resume; sent (as far as anyone can tell) when the send itself failed.
        /// </summary>
        public async Task SendRequestAsync(ControlMessage m, CancellationToken ct)
        {
            await Task.WhenAny(_resumed.Task, _ended.Task).WaitAsync(ct).ConfigureAwait(false);
            if (!_resumed.Task.IsCompleted) throw new ConnectionLostException($"the connection from process server {hop.Remote} ended before it resumed", requestSent: false);
            try { await SendAsync(m, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                throw new ConnectionLostException($"the connection from process server {hop.Remote} failed while sending: {e.Message}", requestSent: true);
            }
        }

        public async Task RunAsync(CancellationToken ct)
        {
            var peer = hop.Remote;
            try
            {
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
                    catch (IOException e) { throw server.StorageFailed(disk, e); }
                    finally { disk.Gate.Release(); }
                    resume[offer.DiskId] = disk.DurableThrough;
                    server._events.DiskAttached(offer.DiskId, offer.MachineId, offer.SizeBytes, hello.SourceId, disk.Replica is SiteRecovery.Journal.Replicas.Local.LocalFileReplicaStore l ? l.Path : offer.DiskId);
                    // Markers that commit made durable, and any the journal held at open without the catalogue's answer.
                    server.ReportDurableMarkers(disk);
                }
                await SendAsync(SessionHandshake.ResumeFor(hello, resume), ct).ConfigureAwait(false);
                _resumed.TrySetResult();
                input.MaxFrame = FrameIo.MaxFrame;
                await ReceiveAsync(input, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                SessionEnd.Log(server._log, $"master target: connection from {peer}", e, ct);
            }
            finally
            {
                foreach (var id in _disks.Keys) server._sessionByDisk.TryRemove(new KeyValuePair<string, Session>(id, this));
                _ended.TrySetResult();
                await hop.DisposeAsync().ConfigureAwait(false);
            }
        }

        /// <summary>
        /// The data path of this connection as a stream: frames read off the socket (only as fast as the stages below take
        /// them, so a full disk stage stops the reading and TCP pushes back on the process server) → each delta's header
        /// decoded and validated once (control frames answered here, in the order they came) → one substream per disk →
        /// its <see cref="DiskWriter.Stage"/> (batches while the disk's writer commits, then the writer journals, applies,
        /// commits and acknowledges). Returns when the process server closes the connection and every batch is committed;
        /// throws what ended it otherwise. The writers have stopped when it returns.
        /// </summary>
        async Task ReceiveAsync(FrameReader input, CancellationToken ct)
        {
            var writers = new Dictionary<string, DiskWriterRef>();
            try
            {
                foreach (var disk in _disks.Values) writers[disk.DiskId] = await server.StartWriterAsync(disk, SendAsync).ConfigureAwait(false);
                var perDisk = RecordStreams.Frames(input, ct)
                    .Where(IsDelta)
                    .Select(Decode)
                    .GroupBy(writers.Count, record => record.Disk.DiskId)
                    .Via(DiskWriter.Stage(writers, server._options.CommitBytes));
                await RecordStreams.RunAsync((SubFlow<DiskWriter.Written, NotUsed, IRunnableGraph<NotUsed>>)perDisk, server.Actors.Materializer).ConfigureAwait(false);
            }
            finally
            {
                // A batch in hand is finished (or fails) before its writer stops: nothing of this session touches a disk after.
                foreach (var writer in writers.Values) writer.Actor.Tell(PoisonPill.Instance);
                await Task.WhenAll(writers.Values.Select(w => w.Stopped)).ConfigureAwait(false);
            }
        }

        /// <summary>True for a delta frame; a control frame is answered here, in the order it came, and goes no further.</summary>
        bool IsDelta(PooledFrame frame)
        {
            if (frame.Type != FrameType.Control) return true;
            using (frame) HandleControl(ControlMessage.Parse(frame.Body.Span));
            return false;
        }

        /// <summary>A delta frame as a validated record of one of this connection's disks: decoded once, here.</summary>
        IncomingRecord Decode(PooledFrame frame)
        {
            try
            {
                var header = DeltaCodec.Decode(frame.Body, out var compressed);
                if (!_disks.TryGetValue(header.DiskId, out var disk))
                    throw new InvalidDataException($"delta for disk {header.DiskId}, which this connection did not offer");
                // Checked before anything else, the sequence included: a refused record ends the connection, nothing stored.
                if (DeltaValidation.Check(header, disk.Size, compressed) is { } violation)
                    throw new DeltaRefusedException(disk.DiskId, header.Sequence, violation);
                return new IncomingRecord(disk, header, compressed, frame);
            }
            catch
            {
                frame.Dispose();
                throw;
            }
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
