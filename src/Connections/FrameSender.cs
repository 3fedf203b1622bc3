using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// The send side of one session: every frame written to its stream goes through here, one writer at a time, so a
/// control reply never lands inside a batch of deltas. Each send ends with a flush, so a buffered stream never holds
/// a reply or a batch back. It also keeps a quiet session alive (<see cref="KeepAliveAsync"/>), since only it knows
/// when the session last said anything.
/// </summary>
public sealed class FrameSender(Stream stream)
{
    readonly SemaphoreSlim _lock = new(1, 1);
    long _lastSent = Environment.TickCount64;

    public async Task SendAsync(ControlMessage message, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await FrameIo.WriteAsync(stream, FrameType.Control, message.ToBytes(), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _lastSent, Environment.TickCount64);
        }
        finally { _lock.Release(); }
    }

    /// <summary>Writes a batch of frames with nothing else in between (<paramref name="write"/> gets the stream), then flushes.</summary>
    public async Task SendBatchAsync(Func<Stream, CancellationToken, Task> write, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await write(stream, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _lastSent, Environment.TickCount64);
        }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// Until <paramref name="ct"/> or the connection fails: sends a <see cref="Keepalive"/> whenever nothing was sent for
    /// <paramref name="every"/>. A session that sends anyway sends no keepalive. A failed send ends this quietly: the
    /// session's own loops see the loss and say it.
    /// </summary>
    public async Task KeepAliveAsync(TimeSpan every, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(every, TimeSpan.Zero);
        try
        {
            while (true)
            {
                var quiet = TimeSpan.FromMilliseconds(Environment.TickCount64 - Volatile.Read(ref _lastSent));
                if (quiet >= every) await SendAsync(Keepalive.Instance, ct).ConfigureAwait(false);
                else await Task.Delay(every - quiet, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { }
    }
}
