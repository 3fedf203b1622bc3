using System.Buffers;
using System.Runtime.InteropServices;
using System.Net.Sockets;
using Akka.Streams;
using Akka.Streams.Dsl;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// Drains one disk's spool to the master target as an Akka.Streams graph: spool reader (waits for durable data; the
/// records in memory as the agent's session decoded them, or read back and decoded from the spool) →
/// <see cref="CompressionStage"/> (parallel, order kept) → <see cref="TargetStage"/> (framed socket).
/// Backpressure: the socket write is the sink, so a slow master target slows the reader, the spool
/// grows, and past the cache's size the agent's sends wait. Acknowledgements come back on the same
/// connection and trim the spool. Bookmark requests from the master target also arrive here.
/// </summary>
public sealed partial class Forwarder(ProcessServer server, SpooledDisk disk, ProcessServerOptions options, DeltaCompression compression, IMaterializer materializer)
{
    readonly TaskCompletionSource _connectedOnce = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CompressionProbe _probe = new();
    FrameSender? _sender;

    /// <summary>Completes once the master target has said how far it is.</summary>
    public Task ConnectedOnce => _connectedOnce.Task;

    public async Task SendControlAsync(ControlMessage m, CancellationToken ct)
    {
        var sender = _sender ?? throw new IOException($"disk {disk.DiskId}: not connected to the master target");
        await sender.SendAsync(m, ct).ConfigureAwait(false);
    }

    StorageFaultNotice? _unsent;

    /// <summary>
    /// Tells the master target that the disk stopped at (or resumed from) a storage fault. Kept until it is sent, and sent
    /// again on every (re)connection until then, so the disk's alert is raised and cleared even across an outage.
    /// </summary>
    public void Notify(StorageFaultNotice notice)
    {
        Volatile.Write(ref _unsent, notice);
        _ = Task.Run(SendUnsentAsync);
    }

    async Task SendUnsentAsync()
    {
        if (Volatile.Read(ref _unsent) is not { } notice) return;
        try
        {
            await SendControlAsync(notice, CancellationToken.None).ConfigureAwait(false);
            Interlocked.CompareExchange(ref _unsent, null, notice);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
    }

    /// <summary>
    /// Forwards until <paramref name="stop"/>, reconnecting after every loss. Anything that ends a connection is retried,
    /// not only a lost peer: a spool record that fails its hash or a sequence the spool no longer holds must not end
    /// forwarding in silence, so it is said, with its type, at every try.
    /// </summary>
    public Task RunAsync(CancellationToken stop) => options.MasterTargetReconnect.RunAsync(RunOnceAsync, _ => true, (e, wait) => server.Log(
        e is IOException or SocketException or InvalidDataException or ObjectDisposedException or OperationCanceledException or AggregateException
            ? $"disk {disk.DiskId}: master target connection: {e.Message}; retrying in {wait.TotalMilliseconds:0} ms"
            : $"disk {disk.DiskId}: forwarding failed ({e.GetType().Name}: {e.Message}); retrying in {wait.TotalMilliseconds:0} ms"), stop);

    async Task RunOnceAsync(Action connected, CancellationToken stop)
    {
        await using var hop = await HopConnector.ConnectAsync(options.MasterTarget, options.MasterTargetTls, "master target", stop).ConfigureAwait(false);
        var net = hop.Stream;
        var resume = await SessionHandshake.OpenAsync(net, net, new Hello(options.ServerId, [new DiskOffer(disk.DiskId, disk.Size, disk.MachineId)]), "master target", stop).ConfigureAwait(false);
        var reader = new FrameReader(net, 64 << 10);
        var applied = resume.DurableThrough.TryGetValue(disk.DiskId, out var a) ? a : 0;
        disk.TargetAcknowledged(applied);
        // Batches go out in writes of up to 1 MiB through a buffer held only during a send: an idle disk holds none.
        var sender = new FrameSender(new SendBuffer(net, 1 << 20));
        _sender = sender;
        _connectedOnce.TrySetResult();
        await SendUnsentAsync().ConfigureAwait(false);

        var spool = disk.Spool;
        if (ForwardResume.Problem(disk.DiskId, applied, spool.FirstSequence, spool.LastSequence) is { } cannotServe) throw new InvalidDataException(cannotServe);
        // Only now does a loss start the waits over: a cache that cannot serve the target keeps backing off.
        connected();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var ct = cts.Token;
        var receive = ReceiveAsync(reader, ct);
        var pump = PumpAsync(applied, sender, ct);
        var done = await Task.WhenAny(receive, pump).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        _sender = null;
        try { await Task.WhenAll(receive, pump).ConfigureAwait(false); } catch (Exception) when (done.IsFaulted || ct.IsCancellationRequested) { }
        await done.ConfigureAwait(false);
    }

    Task PumpAsync(long after, FrameSender sender, CancellationToken ct)
    {
        var source = Source.UnfoldAsync(after, async cursor =>
        {
            while (disk.Spool.DurableSequence <= cursor)
            {
                var signal = disk.DurableAdvanced;
                if (disk.Spool.DurableSequence > cursor) break;
                await signal.WaitAsync(ct).ConfigureAwait(false);
            }
            var batch = new List<OutgoingRecord>();
            var through = disk.Spool.DurableSequence;
            // Kept up: the records are still in memory. Otherwise (behind, reconnected, restarted) the spool has them.
            var taken = disk.Recent.TakeFrom(cursor + 1, through, options.ForwardBatchBytes, batch);
            if (taken > cursor) return Akka.Util.Option<(long, List<OutgoingRecord>)>.Create((taken, batch));
            var bytes = 0;
            // Read into pooled buffers, released once sent like the in-memory tail's (fresh arrays cost page faults and GC).
            // What this process spooled is not hashed again: the master target checks each delta's own checksum before
            // it stores anything (and asks again from the spool); what a restart found in the spool is verified.
            foreach (var (seq, record) in disk.Spool.Read(cursor + 1, through, ArrayPool<byte>.Shared.Rent, verifyOwnWrites: false))
            {
                // Decoded here, once: the stages after read the header this carries, not the bytes.
                var header = DeltaCodec.Decode(record, out var compressed);
                batch.Add(new OutgoingRecord(record, MemoryMarshal.TryGetArray(record, out var pooled) ? pooled.Array : null, header, compressed));
                bytes += record.Length;
                cursor = seq;
                if (bytes >= options.ForwardBatchBytes) break;
            }
            return Akka.Util.Option<(long, List<OutgoingRecord>)>.Create((cursor, batch));
        });
        return source
            .SelectMany(batch => batch)
            .Via(CompressionStage(compression, _probe, options.CompressionParallelism, ct))
            .Via(TargetStage(sender, options.ForwardBatchBytes, ct))
            .WithAttributes(Attributes.CreateInputBuffer(1, 2))
            .RunWith(Sink.Ignore<int>(), materializer);
    }

    async Task ReceiveAsync(FrameReader reader, CancellationToken ct)
    {
        while (true)
        {
            var frame = await reader.ReadAsync(ct).ConfigureAwait(false) ?? throw new IOException("master target closed the connection");
            if (frame.Type != FrameType.Control) throw new InvalidDataException("master target sent a delta frame");
            switch (ControlMessage.Parse(frame.Body))
            {
                case Ack ack:
                    disk.TargetAcknowledged(ack.DurableThrough);
                    break;
                case Nak nak:
                    // The stream restarts from what the master target says it holds.
                    throw new InvalidDataException($"master target asks to resend {disk.DiskId} from #{nak.ResendFrom}: {nak.Reason}");
                case BlockHashReply reply:
                    await server.RouteHashReplyAsync(reply, ct).ConfigureAwait(false);
                    break;
                case BookmarkRequest req:
                    AnswerLater(async () => await server.RouteBookmarkAsync(req, ct).ConfigureAwait(false), ct);
                    break;
                case IAgentRequest agentRequest:
                    AnswerLater(() => server.RouteToAgentAsync(agentRequest, ct), ct);
                    break;
                case var other:
                    server.Log($"disk {disk.DiskId}: ignoring {other.GetType().Name} from the master target");
                    break;
            }
        }
    }

    /// <summary>Routes a master target's request to the agent off the receive loop, and sends the answer back when it comes.</summary>
    void AnswerLater(Func<Task<ControlMessage>> route, CancellationToken ct) => _ = Task.Run(async () =>
    {
        var reply = await route().ConfigureAwait(false);
        try { await SendControlAsync(reply, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or OperationCanceledException) { }
    }, CancellationToken.None);
}
