using SiteRecovery.Capture;

namespace SiteRecovery.Capture.Tests;

/// <summary>An in-memory export for protocol tests; can be told to fail at a given offset.</summary>
internal sealed class MemoryExport(string name, int size, bool readOnly = false) : INbdExport
{
    private readonly object _gate = new();
    public byte[] Data { get; } = new byte[size];
    public string Name { get; } = name;
    public long Size => Data.Length;
    public bool ReadOnly { get; } = readOnly;
    public long? FailAsyncAt { get; set; }
    public long? FailSyncAt { get; set; }
    /// <summary>When set, a write first signals <see cref="WriteStarted"/> and then waits for this before applying.</summary>
    public Task? HoldWrites { get; set; }
    public TaskCompletionSource WriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int Flushes;
    public int FuaWrites;
    public int Trims;
    public int Zeroes;

    private void MaybeFail(long offset)
    {
        if (offset == FailSyncAt) throw new InvalidOperationException($"synchronous failure at {offset}");
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        MaybeFail(offset);
        if (offset == FailAsyncAt) return ValueTask.FromException(new IOException($"disk failure at {offset}"));
        Check(offset, buffer.Length);
        lock (_gate) Data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken ct)
    {
        MaybeFail(offset);
        await Task.Yield();
        if (HoldWrites is { } hold)
        {
            WriteStarted.TrySetResult();
            await hold.ConfigureAwait(false);
        }
        if (offset == FailAsyncAt) throw new IOException($"disk failure at {offset}");
        Check(offset, data.Length);
        lock (_gate) data.Span.CopyTo(Data.AsSpan((int)offset));
        if (fua) Interlocked.Increment(ref FuaWrites);
    }

    public ValueTask WriteZeroesAsync(long offset, int length, bool fua, CancellationToken ct)
    {
        Check(offset, length);
        lock (_gate) Data.AsSpan((int)offset, length).Clear();
        Interlocked.Increment(ref Zeroes);
        if (fua) Interlocked.Increment(ref FuaWrites);
        return ValueTask.CompletedTask;
    }

    public ValueTask TrimAsync(long offset, int length, CancellationToken ct)
    {
        Check(offset, length);
        lock (_gate) Data.AsSpan((int)offset, length).Clear();
        Interlocked.Increment(ref Trims);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref Flushes);
        return ValueTask.CompletedTask;
    }

    private void Check(long offset, int length)
    {
        // The server promises never to call out of range; make a violation loud.
        if (offset < 0 || length <= 0 || offset + length > Data.Length)
            throw new InvalidOperationException($"SERVER BUG: out-of-range export call offset={offset} length={length}");
    }
}
