using System.Net.Sockets;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The agent session: one agent connection, nested so it works on the server's tables directly. Holds the hello (the
/// writer's identity, placement and certificate checks, the fence against an older session) and the control frames;
/// its records go through the stream in ProcessServer.SpoolStage.cs.
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>One agent connection.</summary>
    sealed partial class AgentSession(ProcessServer server, HopConnection hop)
    {
        readonly Socket socket = hop.Socket;
        readonly Dictionary<string, (SpooledDisk Disk, Forwarder Forwarder)> _disks = new();
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
            catch (Exception e)
            {
                SessionEnd.Log(server._log, $"process server: agent connection {peer}", e, ct);
            }
            finally
            {
                foreach (var id in _disks.Keys) server._agentByDisk.TryRemove(new KeyValuePair<string, AgentSession>(id, this));
                await hop.DisposeAsync().ConfigureAwait(false);
                _ended.TrySetResult();
            }
        }

        /// <summary>Throws when a newer session of the disk's writer took it over (caller holds the disk's write gate).</summary>
        void Fenced(SpooledDisk disk)
        {
            if (!ReferenceEquals(disk.Session, this))
                throw new SessionFencedException($"disk {disk.DiskId}: this session of agent {AgentId} was replaced by a newer one; its later frames are not applied");
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
