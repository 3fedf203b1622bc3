using SiteRecovery.Contracts.Storage;
using System.Buffers.Binary;
using System.IO.Hashing;

namespace SiteRecovery.Journal.Retention;

/// <summary>
/// When the master target received a disk's records, by its own clock: <c>receive-times.idx</c> in the retention
/// directory, a header and then fixed-size samples (sequence S, receive time T), each with its own XxHash3.
/// A sample (S, T) says every record after the previous sample's sequence, up to and including S, was durable here at
/// or before T, so the receive time of a record is the time of the first sample at or after it (an upper bound: a
/// record ages out at most one sample interval late, never early). Sample times never go back (a running maximum).
/// </summary>
/// <remarks>
/// Invariants. (1) Samples are ascending in sequence and in time. (2) Records at or below <see cref="LegacyThrough"/>
/// were journaled before receive times were kept: they have no receive time and callers use the record's own
/// (agent) time. (3) A sample is taken at each commit (<see cref="Received"/>) but written only when
/// <see cref="RetentionOptions.ReceiveTimeSampleInterval"/> has passed since the last written one, or when the next
/// commit comes that long after it (a pause: the boundary between two bursts stays exact); the rest stay in memory as
/// the pending sample. So at most two samples are kept per interval (held in memory back to the base: 16 bytes each). The file is fsync'd by <see cref="Flush"/> (at each retention pass). (4) After a
/// crash, records the journal holds past the last durable sample get one sample stamped with the open's time: they
/// are kept longer than needed, never dropped early. A torn or corrupt sample ends the file (it is cut there and
/// the records after it are stamped at open as in (4)). (5) Samples below the base are dropped when the base rolls
/// (the file is rewritten temp + fsync + rename), keeping the one that covers the base itself.
/// </remarks>
public sealed class ReceiveTimeIndex : IDisposable
{
    public const string FileName = "receive-times.idx";
    private const ulong Magic = 0x3130_4D49_5452_5253; // "SRRTIM01"
    private const int HeaderBytes = 24; // magic, legacy-through, hash
    private const int SampleBytes = 24; // sequence, time, hash

    private readonly string _path;
    private readonly long _sampleIntervalMs;
    private readonly List<(long Sequence, long TimeUnixMs)> _samples = [];
    private (long Sequence, long TimeUnixMs)? _pending;
    private FileStream _file;
    private bool _dirty;

    private ReceiveTimeIndex(string path, long legacyThrough, long sampleIntervalMs, FileStream file)
    {
        _path = path;
        LegacyThrough = legacyThrough;
        _sampleIntervalMs = sampleIntervalMs;
        _file = file;
    }

    /// <summary>Records at or below this sequence predate receive times: their own (agent) time stands in.</summary>
    public long LegacyThrough { get; }

    /// <summary>Samples held (written and pending), for tests and diagnostics.</summary>
    public int SampleCount { get { lock (_samples) return _samples.Count + (_pending is null ? 0 : 1); } }

    /// <summary>
    /// Opens (or creates) the index in <paramref name="directory"/> for a journal durable through
    /// <paramref name="durable"/>. A new index on a journal that already holds records marks them as legacy.
    /// </summary>
    public static ReceiveTimeIndex Open(string directory, string diskId, long durable, long nowUnixMs, TimeSpan sampleInterval, Action<string>? log)
    {
        var path = Path.Combine(directory, FileName);
        var intervalMs = (long)sampleInterval.TotalMilliseconds;
        if (!File.Exists(path) || new FileInfo(path).Length < HeaderBytes)
        {
            if (File.Exists(path)) log?.Invoke($"disk {diskId}: {path} is shorter than its header; rewritten (records through #{durable} keep their agent times)");
            else if (durable > 0) log?.Invoke($"disk {diskId}: no receive times for records through #{durable} (journaled before they were kept): those age by the agent's time");
            WriteFile(path, durable, []);
        }
        var bytes = File.ReadAllBytes(path);
        if (BinaryPrimitives.ReadUInt64LittleEndian(bytes) != Magic || XxHash3.HashToUInt64(bytes.AsSpan(0, 16)) != BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16)))
            throw new InvalidDataException($"disk {diskId}: receive-time index '{path}' has a bad header; delete it to keep only agent times for the records it held");
        var legacy = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
        var samples = new List<(long, long)>();
        long good = HeaderBytes, lastSeq = legacy, lastTime = long.MinValue;
        for (var p = HeaderBytes; p + SampleBytes <= bytes.Length; p += SampleBytes)
        {
            var s = bytes.AsSpan(p, SampleBytes);
            var seq = BinaryPrimitives.ReadInt64LittleEndian(s);
            var time = BinaryPrimitives.ReadInt64LittleEndian(s[8..]);
            if (XxHash3.HashToUInt64(s[..16]) != BinaryPrimitives.ReadUInt64LittleEndian(s[16..]) || seq <= lastSeq || time < lastTime || seq > durable)
            {
                log?.Invoke($"disk {diskId}: receive-time index '{path}' ends at sample {(p - HeaderBytes) / SampleBytes} (torn or past the journal's #{durable}); cut there");
                break;
            }
            samples.Add((seq, time));
            (lastSeq, lastTime, good) = (seq, time, p + SampleBytes);
        }
        var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        if (file.Length != good)
        {
            file.SetLength(good);
            file.Flush(flushToDisk: true);
        }
        file.Seek(good, SeekOrigin.Begin);
        var index = new ReceiveTimeIndex(path, legacy, intervalMs, file);
        index._samples.AddRange(samples);
        if (durable > Math.Max(lastSeq, legacy))
        {
            // Journaled before a crash took their sample: received no later than now.
            index.Write(durable, Math.Max(nowUnixMs, lastTime));
            index.Flush();
        }
        return index;
    }

    /// <summary>Every record through <paramref name="durable"/> is durable here at <paramref name="nowUnixMs"/> (called at each commit).</summary>
    public void Received(long durable, long nowUnixMs)
    {
        lock (_samples)
        {
            var last = _pending ?? (_samples.Count > 0 ? _samples[^1] : (LegacyThrough, long.MinValue));
            if (durable <= last.Sequence || durable <= LegacyThrough) return;
            var time = Math.Max(nowUnixMs, last.TimeUnixMs);
            if (_pending is { } p && time - p.TimeUnixMs >= _sampleIntervalMs)
            {
                // A pause in the stream: the pending sample is exact for its records, keep it (a time between two bursts,
                // such as one just after a bookmark, then resolves to the end of the first burst).
                _pending = null;
                Write(p.Sequence, p.TimeUnixMs);
            }
            var written = _samples.Count > 0 ? _samples[^1].TimeUnixMs : long.MinValue;
            if (written == long.MinValue || time - written >= _sampleIntervalMs)
            {
                _pending = null;
                Write(durable, time);
            }
            else _pending = (durable, time);
        }
    }

    private void Write(long sequence, long time)
    {
        Span<byte> s = stackalloc byte[SampleBytes];
        BinaryPrimitives.WriteInt64LittleEndian(s, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], time);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], XxHash3.HashToUInt64(s[..16]));
        _file.Write(s);
        _samples.Add((sequence, time));
        _dirty = true;
    }

    /// <summary>Makes the written samples durable (the pending one stays in memory: a crash stamps its records at open).</summary>
    public void Flush()
    {
        lock (_samples)
        {
            if (!_dirty) return;
            _file.Flush(flushToDisk: true);
            _dirty = false;
        }
    }

    /// <summary>
    /// The master target's receive time of <paramref name="sequence"/> (an upper bound, see the class remarks), or null
    /// when the record predates receive times or has not been committed yet.
    /// </summary>
    public long? TimeOf(long sequence)
    {
        lock (_samples)
        {
            if (sequence <= LegacyThrough) return null;
            var i = FirstAtOrAfter(sequence);
            if (i < _samples.Count) return _samples[i].TimeUnixMs;
            return _pending is { } p && p.Sequence >= sequence ? p.TimeUnixMs : null;
        }
    }

    /// <summary>
    /// The last sequence above <paramref name="after"/> (and above <see cref="LegacyThrough"/>) received at or before
    /// <paramref name="timeUnixMs"/>, or null when there is none.
    /// </summary>
    public long? LastReceivedAtOrBefore(long timeUnixMs, long after)
    {
        lock (_samples)
        {
            if (_pending is { } p && p.TimeUnixMs <= timeUnixMs) return p.Sequence > after ? p.Sequence : null;
            int lo = 0, hi = _samples.Count; // first sample later than the time
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (_samples[mid].TimeUnixMs <= timeUnixMs) lo = mid + 1; else hi = mid;
            }
            return lo > 0 && _samples[lo - 1].Sequence > after ? _samples[lo - 1].Sequence : null;
        }
    }

    /// <summary>Drops the samples below <paramref name="baseSequence"/> other than the one that covers it (rewrites the file when that saves much).</summary>
    public void TrimBelow(long baseSequence)
    {
        lock (_samples)
        {
            var keepFrom = FirstAtOrAfter(baseSequence);
            if (keepFrom < 64 || keepFrom * 2 < _samples.Count) return; // not worth a rewrite yet
            _samples.RemoveRange(0, keepFrom);
            _file.Dispose();
            WriteFile(_path, LegacyThrough, _samples);
            _file = new FileStream(_path, FileMode.Open, FileAccess.Write, FileShare.Read);
            _file.Seek(0, SeekOrigin.End);
            _dirty = false;
        }
    }

    private int FirstAtOrAfter(long sequence)
    {
        int lo = 0, hi = _samples.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_samples[mid].Sequence < sequence) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private static void WriteFile(string path, long legacyThrough, IReadOnlyList<(long Sequence, long TimeUnixMs)> samples)
    {
        var bytes = new byte[HeaderBytes + samples.Count * SampleBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), legacyThrough);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), XxHash3.HashToUInt64(bytes.AsSpan(0, 16)));
        for (var i = 0; i < samples.Count; i++)
        {
            var s = bytes.AsSpan(HeaderBytes + i * SampleBytes, SampleBytes);
            BinaryPrimitives.WriteInt64LittleEndian(s, samples[i].Sequence);
            BinaryPrimitives.WriteInt64LittleEndian(s[8..], samples[i].TimeUnixMs);
            BinaryPrimitives.WriteUInt64LittleEndian(s[16..], XxHash3.HashToUInt64(s[..16]));
        }
        DurableFile.WriteAtomically(path, bytes, null, "receive-times");
    }

    public void Dispose()
    {
        lock (_samples)
        {
            _file.Flush(flushToDisk: true);
            _file.Dispose();
        }
    }
}
