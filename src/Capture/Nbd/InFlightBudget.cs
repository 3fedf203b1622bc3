namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Bounds what one connection has in flight: at most <c>maxRequests</c> requests and <c>maxBytes</c> of payload
/// buffers. A single request larger than the byte budget is still admitted when nothing else is in flight, so the
/// largest request the server advertises can always run.
/// </summary>
internal sealed class InFlightBudget(int maxRequests, long maxBytes)
{
    private readonly object _gate = new();
    private int _requests;
    private long _bytes;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask AcquireAsync(long bytes, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_requests == 0 || (_requests < maxRequests && _bytes + bytes <= maxBytes))
                {
                    _requests++;
                    _bytes += bytes;
                    return;
                }
                wait = _changed.Task;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    public void Release(long bytes)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            _requests--;
            _bytes -= bytes;
            signal = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
    }

    /// <summary>Waits until every admitted request has been released.</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_requests == 0) return;
                wait = _changed.Task;
            }
            await wait.ConfigureAwait(false);
        }
    }
}
