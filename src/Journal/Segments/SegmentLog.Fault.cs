namespace SiteRecovery.Journal.Segments;

public sealed partial class SegmentLog
{
    /// <summary>True once a write or fsync failed: the log refuses appends and flushes until it is reopened.</summary>
    public bool Faulted => _faulted;

    /// <summary>The failure that faulted the log was an fsync (false: a write, or no failure).</summary>
    public bool FaultedInFsync { get; private set; }

    /// <summary>
    /// Closes the log without writing anything more and cuts its active file back to the length the last successful
    /// <see cref="Flush"/> made durable, so that <see cref="Open"/> then finds exactly the durable records. After a failed
    /// fsync the page cache may still hold bytes the device never took (and a second fsync may report success without
    /// writing them), so recovery must not be left to judge them by their frames: only what was acknowledged as durable
    /// survives; the senders resend the rest, which was never acknowledged.
    /// </summary>
    public void CloseAtDurable()
    {
        string? activePath;
        long durableLength;
        lock (_gate)
        {
            if (_disposed) return;
            var active = _files[^1];
            activePath = active.Sealed ? null : active.Path;
            durableLength = active.DurableLength;
            _faulted = true; // Dispose must not flush what was buffered or written since the last fsync
        }
        Dispose();
        if (activePath is null || !File.Exists(activePath)) return;
        using var file = File.OpenHandle(activePath, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
        if (RandomAccess.GetLength(file) <= durableLength) return;
        RandomAccess.SetLength(file, durableLength);
        RandomAccess.FlushToDisk(file);
    }
}
