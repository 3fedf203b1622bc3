using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Connections;

/// <summary>
/// The send side of one session: every frame written to its stream goes through here, one writer at a time, so a
/// control reply never lands inside a batch of deltas. Each send ends with a flush, so a buffered stream never holds
/// a reply or a batch back.
/// </summary>
public sealed class FrameSender(Stream stream)
{
    readonly SemaphoreSlim _lock = new(1, 1);

    public async Task SendAsync(ControlMessage message, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await FrameIo.WriteAsync(stream, FrameType.Control, message.ToBytes(), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
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
        }
        finally { _lock.Release(); }
    }
}
