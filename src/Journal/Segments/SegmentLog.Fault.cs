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
        bool close;
        lock (_gate)
        {
            close = !_disposed;
            if (close)
            {
                var active = _files[^1];
                _pendingCut = active.Sealed ? null : (active.Path, active.DurableLength);
                _faulted = true; // Dispose must not flush what was buffered or written since the last fsync
            }
        }
        if (close) Dispose();
        // A cut that failed (the device still refuses) is tried again by the next call, before anyone reopens the log.
        if (_pendingCut is not { } cut) return;
        if (File.Exists(cut.Path))
        {
            using var file = File.OpenHandle(cut.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
            if (RandomAccess.GetLength(file) > cut.Length)
            {
                RandomAccess.SetLength(file, cut.Length);
                RandomAccess.FlushToDisk(file);
            }
        }
        _pendingCut = null;
    }

    private (string Path, long Length)? _pendingCut;
}
