using Akka.Streams.Dsl;
using Akka.Util;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The agent session's records as a stream: frames off the socket → each delta decoded and validated once (control
/// frames answered here, in the order they came) → one substream per disk → the disk's spool stage (append, fsync,
/// acknowledge). From the spool, the records (with the header decoded here) go to the disk's <see cref="Forwarder"/>.
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>One delta record off an agent's socket: its header decoded and validated once, against its disk; the frame is pooled.</summary>
    internal sealed record SpoolRecord(SpooledDisk Disk, Forwarder Forwarder, Delta Header, bool Compressed, PooledFrame Frame);

    sealed partial class AgentSession
    {
        /// <summary>
        /// The data path of this connection. Returns when the agent closes the connection and every batch is durable and
        /// acknowledged; throws what ended it otherwise. No spool write of this session is in flight when it returns.
        /// </summary>
        async Task ReceiveAsync(FrameReader reader, CancellationToken ct)
        {
            var writers = _disks.ToDictionary(kv => kv.Key, kv => new SpoolWriter(server, this, kv.Value.Disk, kv.Value.Forwarder, ct));
            try
            {
                var perDisk = RecordStreams.Frames(reader, ct)
                    .SelectAsync(1, frame => frame.Type == FrameType.Control ? ControlAsync(frame, ct) : Task.FromResult(Option<SpoolRecord>.Create(Decode(frame))))
                    .Where(r => r.HasValue)
                    .Select(r => r.Value)
                    .GroupBy(writers.Count, r => r.Disk.DiskId)
                    .Via(RecordStreams.CommitWhenIdle<SpoolRecord, long>(server._options.CommitBytes, r => r.Frame.Length, batch => writers[batch[0].Disk.DiskId].WriteAsync(batch)));
                await RecordStreams.RunAsync((SubFlow<long, Akka.NotUsed, Akka.Streams.Dsl.IRunnableGraph<Akka.NotUsed>>)perDisk, server._materializer).ConfigureAwait(false);
            }
            finally
            {
                // A batch in hand is finished (or fails) before the session ends: nothing of it touches a spool after.
                await Task.WhenAll(writers.Values.Select(w => w.Idle)).ConfigureAwait(false);
            }
        }

        /// <summary>A control frame, answered here in the order it came; it goes no further.</summary>
        async Task<Option<SpoolRecord>> ControlAsync(PooledFrame frame, CancellationToken ct)
        {
            ControlMessage m;
            using (frame) m = ControlMessage.Parse(frame.Body.Span);
            await HandleControlAsync(m, ct).ConfigureAwait(false);
            return Option<SpoolRecord>.None;
        }

        /// <summary>A delta frame as a validated record of one of this connection's disks: decoded once, here.</summary>
        SpoolRecord Decode(PooledFrame frame)
        {
            try
            {
                var header = DeltaCodec.Decode(frame.Body, out var compressed);
                if (!_disks.TryGetValue(header.DiskId, out var entry))
                    throw new InvalidDataException($"delta for disk {header.DiskId}, which this agent did not offer");
                // Checked before anything else, the sequence included: a refused record ends the connection, nothing stored.
                if (DeltaValidation.Check(header, entry.Disk.Size, compressed) is { } violation)
                    throw new DeltaRefusedException(entry.Disk.DiskId, header.Sequence, violation);
                return new SpoolRecord(entry.Disk, entry.Forwarder, header, compressed, frame);
            }
            catch
            {
                frame.Dispose();
                throw;
            }
        }

        /// <summary>
        /// One disk's spool writer for this session: the only place its records are appended, made durable and
        /// acknowledged to the agent, one batch at a time, on the thread pool (the spool's writes and fsync block).
        /// <para>Invariants, per batch, in sequence order: a record is appended only as <see cref="SpoolSequence.Decide"/>
        /// says (the next sequence, intact); the batch is flushed (fsync) after its last append, and the <see cref="Ack"/>
        /// goes out only after that flush returned, so nothing is acknowledged that is not durable here. Every append and
        /// flush holds the disk's <see cref="SpooledDisk.WriteGate"/> and first checks this session still holds the disk
        /// (a newer session of the writer fences this one). A spool fault stops the disk (<see cref="ProcessServer.SpoolFailed"/>)
        /// and fails the batch: nothing past the last fsync is acknowledged.</para>
        /// </summary>
        sealed class SpoolWriter(ProcessServer server, AgentSession session, SpooledDisk disk, Forwarder forwarder, CancellationToken ct)
        {
            Task _last = Task.CompletedTask;
            bool _resendAsked;

            /// <summary>Completes once no batch is in flight (whatever became of the last one).</summary>
            public Task Idle => _last.ContinueWith(static _ => { }, TaskScheduler.Default);

            /// <summary>Appends, flushes and acknowledges <paramref name="records"/>; the durable sequence acknowledged, or 0 when nothing was new.</summary>
            public Task<long> WriteAsync(IReadOnlyList<SpoolRecord> records)
            {
                var write = Task.Run(() => WriteAndCommitAsync(records), CancellationToken.None);
                _last = write;
                return write;
            }

            async Task<long> WriteAndCommitAsync(IReadOnlyList<SpoolRecord> records)
            {
                var done = 0;
                var appended = false;
                try
                {
                    // While the cache is over its size the writer waits, its batch fills, and the socket is read no further.
                    await server.WaitForCacheRoomAsync(ct).ConfigureAwait(false);
                    // A record is the spool step's to release from the moment it is handed to it.
                    while (done < records.Count) appended |= await SpoolAsync(records[done++]).ConfigureAwait(false);
                }
                finally
                {
                    for (var rest = done; rest < records.Count; rest++) records[rest].Frame.Dispose();
                }
                if (!appended) return 0;
                await disk.WriteGate.WaitAsync(ct).ConfigureAwait(false);
                try { session.Fenced(disk); disk.Spool.Flush(); }
                catch (IOException e) { throw server.SpoolFailed(disk, forwarder, e); }
                finally { disk.WriteGate.Release(); }
                disk.SignalDurable();
                var durable = disk.DurableThrough;
                await session.SendAsync(new Ack(disk.DiskId, durable), ct).ConfigureAwait(false);
                return durable;
            }

            /// <summary>Appends one record, or skips it or asks for a resend by <see cref="SpoolSequence.Decide"/>; true when appended (its frame then belongs to the disk's in-memory tail).</summary>
            async Task<bool> SpoolAsync(SpoolRecord record)
            {
                var (header, frame) = (record.Header, record.Frame);
                var handedOver = false;
                try
                {
                    var expected = disk.Spool.LastSequence + 1;
                    // The checksum (a pass over the payload) only for the one sequence that can be appended.
                    var intact = header.Sequence == expected && !record.Compressed && header.IsIntact;
                    var step = SpoolSequence.Decide(expected - 1, header.Sequence, intact, _resendAsked);
                    _resendAsked = SpoolSequence.ResendAskedAfter(step, _resendAsked);
                    if (step == SpoolStep.Nak)
                    {
                        var why = header.Sequence == expected ? $"delta #{header.Sequence} of {disk.DiskId} failed its checksum" : $"expected #{expected}, got #{header.Sequence}";
                        await session.SendAsync(new Nak(disk.DiskId, expected, why), ct).ConfigureAwait(false);
                    }
                    if (step != SpoolStep.Append) return false;
                    await disk.WriteGate.WaitAsync(ct).ConfigureAwait(false);
                    try { session.Fenced(disk); disk.Spool.Append(frame.Body.Span, header.Sequence); }
                    catch (IOException e) { throw server.SpoolFailed(disk, forwarder, e); }
                    finally { disk.WriteGate.Release(); }
                    // The spool has the record; the frame's buffer, and the header decoded off it, now serve the forwarder,
                    // which returns the buffer to the pool.
                    disk.Recent.Add(header, frame.Buffer, frame.Length);
                    handedOver = true;
                    return true;
                }
                finally { if (!handedOver) frame.Dispose(); }
            }
        }
    }
}
