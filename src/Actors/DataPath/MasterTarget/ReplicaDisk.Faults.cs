using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// A storage fault under a disk at the master target (its journal's write or fsync, or the replica write after the
/// journal append) stops the disk at what its journal had made durable: nothing more is committed or acknowledged, the
/// disk is closed without moving the replica's checkpoint, and its journal is cut back to its last fsync. The next
/// hello for the disk (the process server's forwarder retries with backoff) proves the storage takes writes, then
/// opens the disk afresh, whose redo applies the journal past the checkpoint, so the replica never misses a record
/// the journal holds.
/// </summary>
public sealed partial class ReplicaDisk
{
    StorageFaultNotice? _fault;

    /// <summary>Set once a storage fault stopped this disk; a stopped disk is closed and opened afresh, never resumed.</summary>
    public StorageFaultNotice? Fault => Volatile.Read(ref _fault);

    /// <summary>
    /// Records why the disk stopped (the first fault wins) and returns it, with whether it is new. The caller stops using
    /// the disk: nothing appended since the journal's last fsync is committed.
    /// </summary>
    public (StorageFaultNotice Fault, bool New) Stop(Exception error)
    {
        var reason = !Journal.Faulted ? DiskStopReason.ReplicaWriteFailed
            : Journal.FaultedInFsync ? DiskStopReason.JournalFsyncFailed : DiskStopReason.JournalWriteFailed;
        var fault = new StorageFaultNotice(DiskId, reason, Journal.DurableSequence, error.Message, Cleared: false);
        var previous = Interlocked.CompareExchange(ref _fault, fault, null);
        return (previous ?? fault, previous is null);
    }

    /// <summary>
    /// Closes a stopped disk without committing or flushing anything: the journal is cut back to its last fsync and the
    /// replica's checkpoint stays where it was. Idempotent; never throws (what fails is logged).
    /// </summary>
    public async Task CloseAfterFaultAsync()
    {
        await _maintenance.WaitAsync().ConfigureAwait(false);
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed) return;
            _disposed = true;
            // A background replica fsync covers only records that were applied and durable: it may still move the checkpoint.
            try { await _replicaFlush.ConfigureAwait(false); } catch (Exception) { }
            Try("close the journal at its last fsync", Journal.CloseAtDurable);
            Try("close the retention", Retention.Dispose);
            try { await Replica.DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) { _log?.Invoke($"disk {DiskId}: close the replica after a storage fault: {e.Message}"); }
        }
        finally
        {
            Gate.Release();
            _maintenance.Release();
        }
    }

    void Try(string what, Action action)
    {
        try { action(); }
        catch (Exception e) { _log?.Invoke($"disk {DiskId}: {what} after a storage fault: {e.Message}"); }
    }

    /// <summary>
    /// Proves the storage under <paramref name="directory"/> takes a write and an fsync of one journal write buffer
    /// (through the journal's file layer), before a stopped disk is opened again. Throws what the storage throws.
    /// </summary>
    public static void ProbeStorage(string directory, SegmentLogOptions options)
    {
        var probe = Path.Combine(directory, "storage.probe");
        try
        {
            using var file = File.OpenHandle(probe, FileMode.Create, FileAccess.Write);
            options.FileIo.Write(file, new byte[options.WriteBufferBytes], 0);
            options.FileIo.FlushToDisk(file);
        }
        finally { File.Delete(probe); }
    }
}
