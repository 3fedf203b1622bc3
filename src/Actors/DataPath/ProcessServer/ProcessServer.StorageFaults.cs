using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A storage fault under a disk's spool (a failed write or fsync: ENOSPC, EIO) stops that disk where its spool was
/// durable, with a named reason: nothing past it is appended or acknowledged, its agent's hello is refused (the agent
/// keeps its unacknowledged writes, then tracks dirty regions), and the master target is told, which raises the
/// disk's alert. The spool is then reopened from its durable state with backoff until the storage takes writes again;
/// the disk resumes by itself and the alert clears.
/// </summary>
public sealed partial class ProcessServer
{
    /// <summary>
    /// Stops <paramref name="disk"/> at a spool failure (caller holds its <see cref="SpooledDisk.WriteGate"/>) and
    /// returns the exception that ends the agent's connection.
    /// </summary>
    internal IOException SpoolFailed(SpooledDisk disk, Forwarder forwarder, Exception error)
    {
        var reason = disk.Spool.FaultedInFsync ? DiskStopReason.SpoolFsyncFailed : DiskStopReason.SpoolWriteFailed;
        var (fault, isNew) = disk.Stop(reason, error);
        var text = $"disk {disk.DiskId}: replication stopped after #{fault.StoppedAfter}: {fault.Reason}: {fault.Detail}";
        if (isNew)
        {
            _log(text + "; nothing past it is acknowledged; the spool is reopened from its durable state once the storage takes writes again");
            forwarder.Notify(fault);
            lock (_background) _background.Add(ReopenSpoolAsync(disk, forwarder, _stop.Token));
        }
        return new IOException(text, error);
    }

    /// <summary>The refusal an agent's hello gets while one of its disks is stopped, or null.</summary>
    internal static string? StoppedRefusal(SpooledDisk disk) => disk.Fault is { } f
        ? $"disk {disk.DiskId}: replication stopped after #{f.StoppedAfter}: {f.Reason}: {f.Detail}; the process server retries its spool, try again later"
        : null;

    async Task ReopenSpoolAsync(SpooledDisk disk, Forwarder forwarder, CancellationToken ct)
    {
        string? told = null;
        try
        {
            // The spool has just failed: the first reopen waits like a retry.
            await _options.StorageRetry.RetryAsync(async c =>
            {
                await disk.WriteGate.WaitAsync(c).ConfigureAwait(false);
                try
                {
                    var cleared = disk.ReopenSpool();
                    _log($"disk {disk.DiskId}: spool reopened at #{disk.Spool.DurableSequence} after {cleared.Reason}; replication resumes");
                    forwarder.Notify(cleared);
                    return cleared;
                }
                finally { disk.WriteGate.Release(); }
            }, e => e is not OperationCanceledException, (e, _) =>
            {
                if (e.Message != told) _log($"disk {disk.DiskId}: spool still not usable ({e.GetType().Name}: {e.Message}); retrying with backoff up to {_options.StorageRetryMax.TotalSeconds:0.#} s");
                told = e.Message;
            }, ct, failedAlready: true).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }
}
