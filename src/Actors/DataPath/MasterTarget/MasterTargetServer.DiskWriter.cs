using Akka.Actor;
using Akka.Streams.Dsl;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;

namespace SiteRecovery.Actors.DataPath;

public sealed partial class MasterTargetServer
{
    /// <summary>One delta record off a session's socket: its header decoded and validated once, against its disk; the frame is pooled.</summary>
    internal sealed record IncomingRecord(ReplicaDisk Disk, Delta Header, bool Compressed, PooledFrame Frame);

    /// <summary>A disk's writer as a session holds it: the actor, and a task done once it has stopped (its last batch finished).</summary>
    internal sealed record DiskWriterRef(IActorRef Actor, Task Stopped);

    /// <summary>
    /// One disk's writer for one session: the only place its records are journaled, applied and committed, one batch at a
    /// time, fed by <see cref="Stage"/>.
    /// <para>Invariants, per batch, in sequence order: a record is journaled before it touches the replica (write-ahead,
    /// <see cref="ReplicaDisk.AppendAsync"/>); the batch is committed (journal fsync) only after every record in it was
    /// applied, and the <see cref="Ack"/> goes out only after that commit returned, so nothing is acknowledged that is not
    /// durable; markers become points only once durable. A storage fault stops the disk (<see cref="ReplicaDisk.Stop"/>)
    /// and fails the batch: what the batch appended is never committed, so nothing past the last fsync is acknowledged.
    /// The disk's <see cref="ReplicaDisk.Gate"/> is taken per record and per commit, as the retention pass, the hash
    /// answers and a newer session's hello share the disk.</para>
    /// </summary>
    internal sealed class DiskWriter : ReceiveActor
    {
        /// <summary>Records of one disk, in sequence order, to be written and committed together.</summary>
        public sealed record Write(IReadOnlyList<IncomingRecord> Records);
        /// <summary>The batch is done: <paramref name="Acknowledged"/> is the durable sequence sent in an Ack, or null when nothing in it was new.</summary>
        public sealed record Written(long? Acknowledged);

        readonly MasterTargetServer _server;
        readonly ReplicaDisk _disk;
        readonly Func<ControlMessage, CancellationToken, Task> _send;
        readonly TaskCompletionSource _stopped;
        readonly List<long> _times = [];
        DateTime _lastProgress = DateTime.MinValue;

        public DiskWriter(MasterTargetServer server, ReplicaDisk disk, Func<ControlMessage, CancellationToken, Task> send, TaskCompletionSource stopped)
        {
            _server = server;
            _disk = disk;
            _send = send;
            _stopped = stopped;
            ReceiveAsync<Write>(async write =>
            {
                var replyTo = Sender;
                try { replyTo.Tell(new Written(await WriteAsync(write.Records).ConfigureAwait(false))); }
                catch (Exception e)
                {
                    // Said to the stream, which ends the session; this writer takes nothing more (a storage fault stopped its disk).
                    replyTo.Tell(new Status.Failure(e));
                    Context.Stop(Self);
                }
            });
        }

        protected override void PostStop() => _stopped.TrySetResult();

        /// <summary>
        /// The per-disk stage: records batch up while the writer is busy with the previous batch (so a commit in flight
        /// coalesces what arrives meanwhile: commit when idle), up to <paramref name="commitBytes"/>; when the batch is full
        /// and the writer busy, demand stops and the session reads no further from its socket.
        /// </summary>
        public static Flow<IncomingRecord, Written, Akka.NotUsed> Stage(IReadOnlyDictionary<string, DiskWriterRef> writers, long commitBytes) =>
            RecordStreams.CommitWhenIdle<IncomingRecord, Written>(commitBytes, r => r.Frame.Length, batch => writers[batch[0].Disk.DiskId].Actor.Ask<Written>(new Write(batch)));

        async Task<long?> WriteAsync(IReadOnlyList<IncomingRecord> records)
        {
            var ct = _server._stop.Token;
            var applied = false;
            var done = 0;
            try
            {
                // Each frame goes back to the pool as soon as its record is applied (journal written, replica write
                // returned, so nothing points into it any more): a batch in hand holds no more buffers than it must.
                for (; done < records.Count; done++)
                {
                    try { applied |= await ApplyAsync(records[done], ct).ConfigureAwait(false); }
                    finally { records[done].Frame.Dispose(); }
                }
            }
            finally
            {
                for (var rest = done + 1; rest < records.Count; rest++) records[rest].Frame.Dispose();
            }
            if (!applied) return null;
            long durable;
            await _disk.Gate.WaitAsync(ct).ConfigureAwait(false);
            try { durable = await _disk.CommitAsync(ct).ConfigureAwait(false); }
            catch (IOException e) { throw _server.StorageFailed(_disk, e); }
            finally { _disk.Gate.Release(); }
            await _send(new Ack(_disk.DiskId, durable), ct).ConfigureAwait(false);
            _server.ReportDurableMarkers(_disk);
            ReportLag();
            if (DateTime.UtcNow - _lastProgress >= _server._options.ProgressInterval)
            {
                try { _disk.SavePoints(); }
                catch (IOException e) { throw _server.StorageFailed(_disk, e); }
                _lastProgress = DateTime.UtcNow;
                _server._events.ReplicationProgress(_disk.DiskId, _disk.DurableThrough, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), _disk.BytesApplied);
            }
            return durable;
        }

        /// <summary>Journals and applies one record, or skips or refuses it by <see cref="RecordSequence.Decide"/>; true when applied.</summary>
        async Task<bool> ApplyAsync(IncomingRecord record, CancellationToken ct)
        {
            var (disk, header, body) = (_disk, record.Header, record.Frame.Body);
            await disk.Gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                switch (RecordSequence.Decide(disk.AppliedThrough, header.Sequence))
                {
                    case RecordStep.SkipResend:
                        return false;
                    case RecordStep.Nak:
                        await _send(new Nak(disk.DiskId, disk.AppliedThrough + 1, $"expected #{disk.AppliedThrough + 1}, got #{header.Sequence}"), ct).ConfigureAwait(false);
                        return false;
                }
                Delta delta;
                // A write's payload may point into the pooled frame (released after the batch); only writes alias it.
                try { delta = _server._compression.DecodeStored(body, aliasUncompressed: header.Kind == DeltaKind.Write); }
                catch (ChecksumMismatchException e)
                {
                    await _send(new Nak(disk.DiskId, header.Sequence, e.Message), ct).ConfigureAwait(false);
                    return false;
                }
                if (record.Compressed && DeltaValidation.Check(delta, disk.Size) is { } decompressed)
                    throw new DeltaRefusedException(disk.DiskId, delta.Sequence, decompressed);
                try { await disk.AppendAsync(delta, body, ct).ConfigureAwait(false); }
                catch (IOException e) { throw _server.StorageFailed(disk, e); }
                if (_server._options.LagObserver is not null) _times.Add(delta.TimeUnixMs);
                return true;
            }
            finally { disk.Gate.Release(); }
        }

        void ReportLag()
        {
            if (_server._options.LagObserver is not { } observer || _times.Count == 0) return;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            observer(_disk.DiskId, _times.Select(t => now - t).ToList());
            _times.Clear();
        }
    }

    /// <summary>
    /// The parent of every disk writer of this master target. A writer that fails is stopped, never restarted: its
    /// failure already ended its session (a storage fault stopped its disk, which is reopened at the next hello with a
    /// new writer), and a restarted one would take records for a disk nobody feeds.
    /// </summary>
    sealed class DiskWriters : ReceiveActor
    {
        public sealed record Start(Props Props);

        public DiskWriters() => Receive<Start>(start => Sender.Tell(Context.ActorOf(start.Props)));

        protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;
    }

    /// <summary>Starts the writer of <paramref name="disk"/> for a session whose control frames go out through <paramref name="send"/>.</summary>
    internal async Task<DiskWriterRef> StartWriterAsync(ReplicaDisk disk, Func<ControlMessage, CancellationToken, Task> send)
    {
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var props = Props.Create(() => new DiskWriter(this, disk, send, stopped));
        var actor = await Actors.Writers.Ask<IActorRef>(new DiskWriters.Start(props)).ConfigureAwait(false);
        return new DiskWriterRef(actor, stopped.Task);
    }
}
