using System.Buffers;
using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The newest records a process server appended to a disk's spool, still in the pooled buffers they arrived in,
/// bounded by bytes. A forwarder that keeps up takes its records from here instead of reading them back from the
/// spool file (a read, a copy and a checksum per byte saved); one that fell behind, reconnected or restarted finds
/// the sequence missing and reads the spool, which stays the only durable copy.
/// </summary>
public sealed class RecentRecords(long maxBytes)
{
    readonly object _gate = new();
    readonly Queue<Entry> _entries = new();
    long _bytes;
    long _lastSequence = -1;

    readonly record struct Entry(Delta Header, byte[] Buffer, int Length)
    {
        public long Sequence => Header.Sequence;
    }

    /// <summary>Bytes held: the sizes of the buffers (a pooled buffer may be larger than its record), so the bound is real memory.</summary>
    public long Bytes { get { lock (_gate) return _bytes; } }

    /// <summary>
    /// Takes ownership of a buffer rented from <see cref="ArrayPool{T}.Shared"/> holding the record whose decoded header is
    /// <paramref name="header"/> (which the spool already has; its payload points into the buffer), so the forwarder
    /// decodes nothing again. Sequences must come in order; a gap or a step back (a new agent connection after a resync)
    /// drops what is held, since a forwarder must never get a run with a hole.
    /// </summary>
    public void Add(Delta header, byte[] pooledBuffer, int length)
    {
        var sequence = header.Sequence;
        if (maxBytes <= 0 || pooledBuffer.Length > maxBytes)
        {
            ArrayPool<byte>.Shared.Return(pooledBuffer);
            return;
        }
        lock (_gate)
        {
            if (_entries.Count > 0 && _lastSequence + 1 != sequence) DropAll();
            _entries.Enqueue(new Entry(header, pooledBuffer, length));
            _lastSequence = sequence;
            _bytes += pooledBuffer.Length;
            while (_bytes > maxBytes) Drop(_entries.Dequeue());
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
                into.Add(new OutgoingRecord(e.Buffer.AsMemory(0, e.Length), e.Buffer, e.Header, Compressed: false));
                taken += e.Length;
                last = e.Sequence;
            }
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
    }

    void Drop(Entry e)
    {
        _bytes -= e.Buffer.Length;
        ArrayPool<byte>.Shared.Return(e.Buffer);
    }
}

/// <summary>
/// A stored record on its way to the master target, decoded once where it entered this process (off the agent's socket,
/// or read back from the spool after a restart or a fall behind): <see cref="Header"/> is that decode, its payload
/// pointing into <see cref="Record"/> until the forwarder compresses it. <see cref="PooledBuffer"/> is set when the record
/// lives in a pooled buffer; <see cref="Compressed"/> when its stored payload is compressed (then the header's payload is
/// the compressed one).
/// </summary>
public readonly record struct OutgoingRecord(ReadOnlyMemory<byte> Record, byte[]? PooledBuffer, Delta Header, bool Compressed);
