using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Agent.Replication;

/// <summary>
/// The ordered outgoing stream of one disk, held in memory until the process server acknowledges it.
/// Invariants:
/// - sequences are assigned under the disk's write lock, in the order writes are applied to the source,
///   so the stream order is the apply order (never the receive order);
/// - a delta stays in <c>_unacked</c> until the process server says it is durable in its spool;
/// - the buffer is bounded by bytes: a writer waits for room (backpressure) rather than growing it.
/// </summary>
public sealed class DiskStream
{
    readonly object _gate = new();
    readonly Queue<Delta> _unacked = new();
    readonly Queue<Delta> _unsent = new();
    readonly long _maxBytes;
    // Bulk payloads live in reused MaxDeltaPayload-sized arrays: the buffer's memory stays put instead of passing
    // tens of MiB through the GC's generations (which grew the agent's peak far past the buffer itself).
    readonly Stack<byte[]> _spare = new();
    readonly int _spareLimit;
    long _bytes;
    long _nextSequence = 1;
    long _ackedThrough;
    TaskCompletionSource _changed = NewSignal();

    public DiskStream(string diskId, long sizeBytes, long maxBufferedBytes)
    {
        DiskId = diskId;
        SizeBytes = sizeBytes;
        _maxBytes = maxBufferedBytes;
        _spareLimit = (int)Math.Min(int.MaxValue, maxBufferedBytes / MaxDeltaPayload + 1);
    }

    public string DiskId { get; }
    public long SizeBytes { get; }

    /// <summary>The last sequence given to a delta (0 before any).</summary>
    public long LastSequence { get { lock (_gate) return _nextSequence - 1; } }
    public long AckedThrough { get { lock (_gate) return _ackedThrough; } }
    public long BufferedBytes { get { lock (_gate) return _bytes; } }
    public int UnackedCount { get { lock (_gate) return _unacked.Count; } }

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    void Signal()
    {
        var old = _changed;
        _changed = NewSignal();
        old.TrySetResult();
    }

    /// <summary>True when <paramref name="bytes"/> more fit in the buffer now (an empty buffer always takes one delta).</summary>
    public bool HasRoom(int bytes)
    {
        lock (_gate) return _bytes + bytes <= _maxBytes || _unacked.Count == 0;
    }

    /// <summary>Waits until the buffer has room for <paramref name="bytes"/> more (one oversize delta is let through when empty).</summary>
    public async ValueTask WaitForRoomAsync(int bytes, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_bytes + bytes <= _maxBytes || _unacked.Count == 0) return;
                wait = _changed.Task;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Starts numbering after <paramref name="lastSequence"/>; only valid while nothing is buffered.</summary>
    public void StartAfter(long lastSequence)
    {
        lock (_gate)
        {
            if (_unacked.Count > 0) throw new InvalidOperationException($"disk {DiskId}: cannot renumber with {_unacked.Count} deltas buffered");
            _nextSequence = lastSequence + 1;
            _ackedThrough = lastSequence;
        }
    }

    /// <summary>Forgets everything buffered and continues after <paramref name="lastSequence"/>; a resync must follow. Hold the write lock.</summary>
    public void ResetAfter(long lastSequence)
    {
        lock (_gate)
        {
            _unacked.Clear();
            _unsent.Clear();
            _bytes = 0;
            _nextSequence = lastSequence + 1;
            _ackedThrough = lastSequence;
            Signal();
        }
    }

    /// <summary>
    /// Gives the next sequence to a delta and queues it. Call while holding the disk's write lock,
    /// right after the change was applied to the source, so sequence order equals apply order.
    /// </summary>
    public Delta Append(DeltaKind kind, long offset, int length, ReadOnlyMemory<byte> payload)
    {
        lock (_gate)
        {
            var (copy, held) = Copy(payload);
            var d = Delta.Create(DiskId, _nextSequence++, kind, offset, length, copy, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            _unacked.Enqueue(d);
            _unsent.Enqueue(d);
            _bytes += held + 64;
            Signal();
            return d;
        }
    }

    /// <summary>Payloads above this size are copied into a reused array of <see cref="MaxDeltaPayload"/> bytes.</summary>
    const int PooledAbove = 16 * 1024;

    /// <summary>Copies a payload for the buffer; returns it and the bytes it holds. Caller holds the gate.</summary>
    (ReadOnlyMemory<byte> Copy, int Held) Copy(ReadOnlyMemory<byte> payload)
    {
        if (payload.IsEmpty) return (ReadOnlyMemory<byte>.Empty, 0);
        // Every byte that counts is overwritten, so neither kind of array needs zeroing.
        var array = payload.Length > PooledAbove
            ? _spare.TryPop(out var spare) ? spare : GC.AllocateUninitializedArray<byte>(MaxDeltaPayload)
            : GC.AllocateUninitializedArray<byte>(payload.Length);
        payload.Span.CopyTo(array);
        return (array.AsMemory(0, payload.Length), array.Length);
    }

    static int Held(Delta d) => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(d.Payload, out var a) ? a.Array!.Length : d.Payload.Length;

    /// <summary>
    /// An acknowledged delta's array goes back for reuse. Only at acknowledgement: a resend of it still being written
    /// reaches a process server that already holds the sequence and drops it unread. Caller holds the gate.
    /// </summary>
    void Recycle(Delta d)
    {
        if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(d.Payload, out var a)
            && a.Array!.Length == MaxDeltaPayload && a.Offset == 0 && _spare.Count < _spareLimit)
            _spare.Push(a.Array);
    }

    /// <summary>
    /// Largest payload of one delta. A bigger write becomes consecutive deltas (numbered together under
    /// the write lock, so no bookmark can fall between them); 64 KiB frames stay off the large-object
    /// heap on every hop.
    /// </summary>
    public const int MaxDeltaPayload = 64 * 1024;

    /// <summary>Appends a write as deltas of at most <see cref="MaxDeltaPayload"/> bytes; returns the last sequence.</summary>
    public long AppendWrite(long offset, ReadOnlyMemory<byte> payload)
    {
        long last = 0;
        for (var done = 0; done < payload.Length || payload.Length == 0 && done == 0; done += MaxDeltaPayload)
        {
            var n = Math.Min(MaxDeltaPayload, payload.Length - done);
            last = Append(DeltaKind.Write, offset + done, n, payload.Slice(done, n)).Sequence;
            if (payload.Length == 0) break;
        }
        return last;
    }

    /// <summary>Drops every delta up to <paramref name="durableThrough"/>: the process server has it on disk.</summary>
    public void Acknowledge(long durableThrough)
    {
        lock (_gate)
        {
            if (durableThrough <= _ackedThrough) return;
            _ackedThrough = durableThrough;
            while (_unacked.TryPeek(out var d) && d.Sequence <= durableThrough)
            {
                _unacked.Dequeue();
                _bytes -= Held(d) + 64;
                Recycle(d);
            }
            Signal();
        }
    }

    /// <summary>
    /// After (re)connecting: the process server holds everything through <paramref name="durableThrough"/>;
    /// queue the rest for sending again. Returns false when the buffer no longer has the next delta
    /// the server needs (a gap), which only a resync can close.
    /// </summary>
    public bool ResendFrom(long durableThrough)
    {
        lock (_gate)
        {
            Acknowledge(durableThrough);
            _unsent.Clear();
            foreach (var d in _unacked) _unsent.Enqueue(d);
            Signal();
            return _unacked.TryPeek(out var first)
                ? first.Sequence == durableThrough + 1
                : durableThrough == _nextSequence - 1;
        }
    }

    /// <summary>
    /// After a nak: the receiver holds (not necessarily durably) everything through
    /// <paramref name="receivedThrough"/>; queue what follows for sending again. Unlike
    /// <see cref="ResendFrom"/> this drops nothing, because a nak is not an acknowledgement.
    /// Returns false when the next delta the receiver needs is no longer buffered.
    /// </summary>
    public bool Rewind(long receivedThrough)
    {
        lock (_gate)
        {
            _unsent.Clear();
            foreach (var d in _unacked)
                if (d.Sequence > receivedThrough) _unsent.Enqueue(d);
            Signal();
            if (receivedThrough < _ackedThrough || receivedThrough > _nextSequence - 1) return false;
            return _unsent.TryPeek(out var first) ? first.Sequence == receivedThrough + 1 : receivedThrough == _nextSequence - 1;
        }
    }

    /// <summary>Takes up to <paramref name="maxBytes"/> of queued-but-unsent deltas, in order.</summary>
    public List<Delta> TakeUnsent(int maxBytes)
    {
        lock (_gate)
        {
            var batch = new List<Delta>();
            var size = 0;
            while (_unsent.TryPeek(out var d) && (batch.Count == 0 || size + d.Payload.Length <= maxBytes))
            {
                batch.Add(_unsent.Dequeue());
                size += d.Payload.Length;
            }
            return batch;
        }
    }

    /// <summary>A task that completes at the next change (append, ack, resend).</summary>
    public Task Changed { get { lock (_gate) return _changed.Task; } }

    /// <summary>True when there is something to send now.</summary>
    public bool HasUnsent { get { lock (_gate) return _unsent.Count > 0; } }
}
