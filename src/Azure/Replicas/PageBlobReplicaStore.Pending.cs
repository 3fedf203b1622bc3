using System.Buffers;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// Write coalescing (<see cref="PageBlobReplicaOptions.CoalesceWrites"/>): consecutive writes become one UploadPages
/// request of up to <see cref="PageBlobReplicaOptions.MaxUploadBytes"/>, consecutive zeroes one ClearPages request.
/// <para>Invariants (everything here holds <see cref="_mutate"/>):</para>
/// <list type="bullet">
/// <item>At most one run is pending: a write run (the final bytes of <c>_runStart.._runEnd</c>, in a buffer laid out from
/// the sector <c>_runBase</c> it starts in) or a clear run (<c>_runStart.._runEnd</c> reads as zeroes: its whole pages by one
/// ClearPages, its unaligned edges merged into their sectors). A write joins the write run, a zero the clear run, only
/// where it leaves no gap (it starts inside the run or at its end), so the run is exactly the latest state of its range;
/// anything else uploads the run first. Order per range is therefore the order of the calls.</item>
/// <item>The run is uploaded before any other request is made: by the next write or zero it cannot take, by a read that
/// overlaps it, and by <see cref="FlushAsync"/>; nothing else is pending meanwhile, so the edge sectors an unaligned
/// run reads back at upload hold every earlier write.</item>
/// <item>The run is forgotten only once the service acknowledged it. An upload that fails for good stops the store
/// (<see cref="_stopped"/>): the run is never skipped by a later upload; the master target reopens the disk and redoes
/// it from its journal. A cancelled upload leaves the run pending, to be uploaded again (page writes are idempotent).</item>
/// </list>
/// </summary>
public sealed partial class PageBlobReplicaStore
{
    enum RunKind { None, Write, Clear }

    RunKind _run;
    long _runBase, _runStart, _runEnd;
    byte[]? _runBuffer;
    volatile PageBlobReplicaException? _stopped;

    /// <summary>Whether a pending run covers any byte of <paramref name="offset"/>+<paramref name="length"/>.</summary>
    bool PendingOverlaps(long offset, long length) =>
        _run != RunKind.None && offset < AlignUp(_runEnd) && offset + length > AlignDown(_runStart);

    /// <summary>Copies <paramref name="data"/> into the write run, uploading the run first wherever it cannot take the next byte.</summary>
    async Task BufferWriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (data.Length > 0)
        {
            if (!(_run == RunKind.Write && offset >= _runStart && offset <= _runEnd && offset < _runBase + _options.MaxUploadBytes))
            {
                await UploadPendingAsync(ct).ConfigureAwait(false);
                _runBuffer ??= ArrayPool<byte>.Shared.Rent(_options.MaxUploadBytes);
                _run = RunKind.Write;
                _runBase = AlignDown(offset);
                _runStart = _runEnd = offset;
            }
            var take = (int)Math.Min(_runBase + _options.MaxUploadBytes - offset, data.Length);
            data[..take].CopyTo(_runBuffer.AsMemory((int)(offset - _runBase)));
            _runEnd = Math.Max(_runEnd, offset + take);
            offset += take;
            data = data[take..];
        }
    }

    /// <summary>A zero joins the clear run where it leaves no gap (or starts one): adjacent zeroes, aligned or not, become one.</summary>
    async Task BufferZeroAsync(long offset, long length, CancellationToken ct)
    {
        var end = offset + length;
        if (_run == RunKind.Clear && offset >= _runStart && offset <= _runEnd)
        {
            _runEnd = Math.Max(_runEnd, end);
            return;
        }
        await UploadPendingAsync(ct).ConfigureAwait(false);
        _run = RunKind.Clear;
        _runStart = offset;
        _runEnd = end;
    }

    /// <summary>Uploads the pending run, if any, and forgets it once acknowledged; a failure for good stops the store.</summary>
    async Task UploadPendingAsync(CancellationToken ct)
    {
        if (_run == RunKind.None) return;
        try
        {
            if (_run == RunKind.Clear)
                await ZeroLockedAsync(_runStart, _runEnd - _runStart, ct).ConfigureAwait(false);
            else
                await UploadWriteRunAsync(ct).ConfigureAwait(false);
        }
        catch (PageBlobReplicaException e)
        {
            _stopped = e;
            throw;
        }
        _run = RunKind.None;
    }

    /// <summary>Fills the run's unaligned edges from the blob (the same sector read once), then uploads whole sectors.</summary>
    async Task UploadWriteRunAsync(CancellationToken ct)
    {
        var buffer = _runBuffer!;
        var stop = AlignUp(_runEnd);
        var length = (int)(stop - _runBase);
        var edge = new byte[Sector];
        if (_runStart != _runBase)
        {
            await ReadRawAsync(_runBase, edge, ct).ConfigureAwait(false);
            edge.AsSpan(0, (int)(_runStart - _runBase)).CopyTo(buffer);
        }
        if (stop != _runEnd)
        {
            var tail = stop - Sector;
            if (tail != _runBase || _runStart == _runBase) await ReadRawAsync(tail, edge, ct).ConfigureAwait(false);
            var keep = (int)(_runEnd - tail);
            edge.AsSpan(keep).CopyTo(buffer.AsSpan((int)(_runEnd - _runBase)));
        }
        await UploadAsync(_runBase, buffer.AsMemory(0, length), ct).ConfigureAwait(false);
    }

    /// <summary>Throws the failure that stopped the store, naming it, so the caller stops too instead of writing past it.</summary>
    void ThrowIfStopped()
    {
        if (_stopped is { } e)
            throw new PageBlobReplicaException(e.DiskId, e.Blob, e.Reason, $"this store stopped at an earlier failure, and its pending writes were not uploaded ({e.Message})", e);
    }

    /// <summary>Gives the run's buffer back (the pending run, if any, is dropped: only flushed writes are durable).</summary>
    void ReturnRunBuffer()
    {
        if (_runBuffer is { } buffer) ArrayPool<byte>.Shared.Return(buffer);
        _runBuffer = null;
        _run = RunKind.None;
    }
}
