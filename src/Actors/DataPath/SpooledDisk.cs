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

    public SpooledDisk(string diskId, long size, SegmentLog spool, long targetAcked, string? machineId, long recentBytes = 0)
    {
        Recent = new RecentRecords(recentBytes);
        MachineId = machineId;
        DiskId = diskId;
        Size = size;
        Spool = spool;
        _targetAcked = targetAcked;
    }

    static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string DiskId { get; }
    public string? MachineId { get; }
    public long Size { get; }
    public SegmentLog Spool { get; }
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
        finally { WriteGate.Release(); }
    }
}
