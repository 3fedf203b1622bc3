using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// One disk in the process server's durable cache. The agent is acknowledged only for what the
/// spool has fsync'd; the spool is trimmed only through what the master target acknowledged, so a
/// crash of the process server loses nothing either side of it.
/// </summary>
public sealed class SpooledDisk
{
    readonly object _gate = new();
    TaskCompletionSource _durableAdvanced = New();
    long _targetAcked;

    public SpooledDisk(string diskId, long size, SegmentLog spool, long targetAcked, string? machineId, long recentBytes = 0, SegmentLogOptions? spoolOptions = null)
    {
        _spoolOptions = spoolOptions ?? new SegmentLogOptions();
        Recent = new RecentRecords(recentBytes);
        MachineId = machineId;
        DiskId = diskId;
        Size = size;
        _spool = spool;
        _targetAcked = targetAcked;
    }

    readonly SegmentLogOptions _spoolOptions;
    SegmentLog _spool;
    StorageFaultNotice? _fault;

    static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The one agent session that may append to and acknowledge this disk (set under <see cref="WriteGate"/> when a
    /// session is accepted); an older session that finds another here is fenced and ends without touching the spool.
    /// </summary>
    public object? Session { get; set; }

    public string DiskId { get; }
    public string? MachineId { get; }
    public long Size { get; }
    /// <summary>The disk's spool; replaced by <see cref="ReopenSpool"/> after a storage fault closed it.</summary>
    public SegmentLog Spool => Volatile.Read(ref _spool);

    /// <summary>
    /// Set from a failed spool write or fsync until the spool is reopened from its durable state and proved writable:
    /// meanwhile nothing of the disk is appended or acknowledged, and its agent's hello is refused (the agent keeps the writes).
    /// </summary>
    public StorageFaultNotice? Fault { get { lock (_gate) return _fault; } }

    /// <summary>
    /// Stops the disk at a storage fault: records why and closes the spool at what was durable (caller holds
    /// <see cref="WriteGate"/>). Returns the fault, and whether it is new (false: the disk was already stopped).
    /// </summary>
    public (StorageFaultNotice Fault, bool New) Stop(DiskStopReason reason, Exception error)
    {
        bool isNew;
        StorageFaultNotice fault;
        lock (_gate)
        {
            isNew = _fault is null;
            _fault ??= new StorageFaultNotice(DiskId, reason, Spool.DurableSequence, error.Message, Cleared: false);
            fault = _fault;
        }
        // A close that fails here is finished by ReopenSpool, which calls it again before reopening.
        try { Spool.CloseAtDurable(); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        Recent.Clear();
        return (fault, isNew);
    }

    /// <summary>
    /// Opens the spool again from its durable state (caller holds <see cref="WriteGate"/>), then proves the storage takes
    /// a write and an fsync of one write buffer beside it; only then is the fault cleared. Throws what the storage throws.
    /// </summary>
    public StorageFaultNotice ReopenSpool()
    {
        var directory = Spool.Directory;
        Spool.CloseAtDurable();
        var probe = Path.Combine(Path.GetDirectoryName(directory)!, "storage.probe");
        try
        {
            using (var file = File.OpenHandle(probe, FileMode.Create, FileAccess.Write))
            {
                _spoolOptions.FileIo.Write(file, new byte[_spoolOptions.WriteBufferBytes], 0);
                _spoolOptions.FileIo.FlushToDisk(file);
            }
        }
        finally { File.Delete(probe); }
        var reopened = SegmentLog.Open(directory, _spoolOptions);
        Volatile.Write(ref _spool, reopened);
        StorageFaultNotice cleared;
        lock (_gate)
        {
            cleared = (_fault ?? new StorageFaultNotice(DiskId, DiskStopReason.SpoolWriteFailed, reopened.DurableSequence, "", false)) with { Cleared = true };
            _fault = null;
        }
        SignalDurable();
        return cleared;
    }
    /// <summary>The newest spooled records still in memory, for the forwarder.</summary>
    public RecentRecords Recent { get; }
    /// <summary>Serializes appends and flushes of the spool (its one writer).</summary>
    public SemaphoreSlim WriteGate { get; } = new(1, 1);

    /// <summary>Highest sequence the master target has acknowledged as durable.</summary>
    public long TargetAcked { get { lock (_gate) return _targetAcked; } }

    /// <summary>What the agent may forget: durable here or at the target.</summary>
    public long DurableThrough => Math.Max(Spool.DurableSequence, TargetAcked);

    public Task DurableAdvanced { get { lock (_gate) return _durableAdvanced.Task; } }

    public void SignalDurable()
    {
        TaskCompletionSource old;
        lock (_gate) { old = _durableAdvanced; _durableAdvanced = New(); }
        old.TrySetResult();
    }

    public void TargetAcknowledged(long through)
    {
        lock (_gate)
        {
            if (through <= _targetAcked) return;
            _targetAcked = through;
        }
        WriteGate.Wait();
        try { Spool.TrimThrough(through); }
        catch (ObjectDisposedException) { } // closed by a storage fault: the next acknowledgement after the reopen trims
        finally { WriteGate.Release(); }
    }
}
