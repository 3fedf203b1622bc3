using System.Buffers;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The newest records a process server appended to a disk's spool, still in the pooled buffers they arrived in,
/// bounded by bytes. A forwarder that keeps up takes its records from here instead of reading them back from the
/// spool file (a read, a copy and a checksum per byte saved); one that fell behind, reconnected or restarted finds
/// the sequence missing and reads the spool, which stays the only durable copy.
/// When full, the oldest run is kept and newer records are not taken in until the forwarder has taken it all: the
/// oldest is what a forwarder behind the writer asks for next. Dropping the oldest instead (as this did first) kept
/// only records the forwarder would reach after they were dropped, so under a sustained write nearly every record was
/// read back from the spool (profile of figure 2a, docs/performance.md, session 14).
/// </summary>
public sealed class RecentRecords(long maxBytes)
{
    readonly object _gate = new();
    readonly Queue<Entry> _entries = new();
    long _bytes;
    long _lastSequence = -1;
    // Set when a record did not fit: later ones are refused until the held run is taken, so it stays one contiguous run.
    bool _full;

    readonly record struct Entry(long Sequence, byte[] Buffer, int Length);

    /// <summary>Bytes held: the sizes of the buffers (a pooled buffer may be larger than its record), so the bound is real memory.</summary>
    public long Bytes { get { lock (_gate) return _bytes; } }

    /// <summary>
    /// Takes ownership of a buffer rented from <see cref="ArrayPool{T}.Shared"/> holding record
    /// <paramref name="sequence"/> (which the spool already has). Sequences must come in order; a gap or a step back
    /// (a new agent connection after a resync) drops what is held, since a forwarder must never get a run with a hole.
    /// A record that does not fit is given back to the pool and so is every later one until the held run is taken.
    /// </summary>
    public void Add(long sequence, byte[] pooledBuffer, int length)
    {
        if (maxBytes <= 0 || pooledBuffer.Length > maxBytes)
        {
            ArrayPool<byte>.Shared.Return(pooledBuffer);
            return;
        }
        lock (_gate)
        {
            if (_entries.Count > 0 && _lastSequence + 1 != sequence) DropAll();
            _lastSequence = sequence;
            if (_full || _bytes + pooledBuffer.Length > maxBytes)
            {
                _full = _entries.Count > 0;
                ArrayPool<byte>.Shared.Return(pooledBuffer);
                return;
            }
            _entries.Enqueue(new Entry(sequence, pooledBuffer, length));
            _bytes += pooledBuffer.Length;
        }
    }

    /// <summary>
    /// Moves records <paramref name="from"/>.. (at most through <paramref name="through"/>, about
    /// <paramref name="maxBytes"/>) into <paramref name="into"/>; the caller owns their buffers from then on and returns
    /// them with <see cref="Release"/>. Returns the last sequence taken, or <paramref name="from"/> − 1 when
    /// <paramref name="from"/> is not held (older entries are dropped on the way: nobody will ask for them again).
    /// </summary>
    public long TakeFrom(long from, long through, int maxBytes, List<OutgoingRecord> into)
    {
        lock (_gate)
        {
            while (_entries.TryPeek(out var e) && e.Sequence < from) Drop(_entries.Dequeue());
            var last = from - 1;
            var taken = 0;
            while (_entries.TryPeek(out var e) && e.Sequence == last + 1 && e.Sequence <= through && (taken == 0 || taken + e.Length <= maxBytes))
            {
                _entries.Dequeue();
                _bytes -= e.Buffer.Length;
                into.Add(new OutgoingRecord(e.Buffer.AsMemory(0, e.Length), e.Buffer));
                taken += e.Length;
                last = e.Sequence;
            }
            if (_entries.Count == 0) _full = false;
            return last;
        }
    }

    /// <summary>Returns every held buffer to the pool.</summary>
    public void Clear()
    {
        lock (_gate) DropAll();
    }

    /// <summary>Gives a taken record's buffer back to the pool once its bytes are no longer needed.</summary>
    public static void Release(OutgoingRecord record)
    {
        if (record.PooledBuffer is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
    }

    void DropAll()
    {
        while (_entries.TryDequeue(out var e)) Drop(e);
        _full = false;
    }

    void Drop(Entry e)
    {
        _bytes -= e.Buffer.Length;
        ArrayPool<byte>.Shared.Return(e.Buffer);
    }
}

/// <summary>A stored record on its way to the master target; <see cref="PooledBuffer"/> is set when it lives in a pooled buffer.</summary>
public readonly record struct OutgoingRecord(ReadOnlyMemory<byte> Record, byte[]? PooledBuffer);
