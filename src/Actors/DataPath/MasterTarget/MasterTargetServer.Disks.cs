using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The disks this master target holds: where each one's files live, opened once per disk (a failed open is tried
/// again at the next offer) and on demand for a disk not offered since start. Apart because this is where a disk id is
/// checked as a file name and a disk first opened; the other parts look disks up in the table it fills.
/// </summary>
public sealed partial class MasterTargetServer
{
    string DiskDirectory(string diskId) => Path.Combine(_options.DataDirectory, "disks", diskId);

    static void CheckDiskId(string diskId)
    {
        if (!PathNames.IsOneComponent(diskId))
            throw new InvalidDataException($"disk id '{diskId}' is not a valid name");
    }

    /// <summary>
    /// Where the note lives that a disk's replica file was given back to its machine (a failback that returned the machine
    /// to this site): from then on the file is the running machine's disk, written by its agent, not by this master
    /// target, so nothing here may open it again; a redo of the journal's tail would write over the machine's writes.
    /// </summary>
    string ReturnedNote(string diskId) => Path.Combine(DiskDirectory(diskId), "returned");

    void RefuseReturned(string diskId)
    {
        var note = ReturnedNote(diskId);
        if (File.Exists(note))
            throw new InvalidDataException($"disk {diskId} was given back to its machine at this site ({File.ReadAllText(note).Trim()}); " +
                $"its replica file is that machine's disk now, so this master target takes no more writes for it and serves none of its points (remove '{note}' only once the file is no longer in use)");
    }

    /// <summary>
    /// Gives <paramref name="diskId"/>'s replica file back: a durable note first (so neither an offer nor a restart opens it
    /// again), then its connection and the disk are closed, which releases the file's lock for the agent that serves it
    /// next. Repeating it is harmless. <paramref name="why"/> is kept in the note and named in every refusal after it.
    /// </summary>
    public async Task GiveBackAsync(string diskId, string why)
    {
        CheckDiskId(diskId);
        Directory.CreateDirectory(DiskDirectory(diskId));
        if (!File.Exists(ReturnedNote(diskId))) DurableFile.WriteAtomically(ReturnedNote(diskId), System.Text.Encoding.UTF8.GetBytes(why), null, "returned note");
        if (_sessionByDisk.TryRemove(diskId, out var session)) session.Close();
        if (_disks.TryRemove(diskId, out var lazy) && lazy.IsValueCreated)
        {
            try { await (await lazy.Value.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) when (lazy.Value.IsFaulted) { _log($"disk {diskId}: given back (it had not opened: {e.Message})"); }
        }
        _log($"disk {diskId}: replica file given back ({why})");
    }

    Task<ReplicaDisk> OpenDiskAsync(string diskId, long size)
    {
        CheckDiskId(diskId);
        RefuseReturned(diskId);
        Lazy<Task<ReplicaDisk>> Open() => _disks.GetOrAdd(diskId, id => new Lazy<Task<ReplicaDisk>>(() =>
            ReplicaDisk.OpenAsync(DiskDirectory(id), id, size, _stores, _compression, _options.Journal, _options.ReplicaFlushInterval, _stop.Token, _options.Retention, _log, _options.Clock)));
        var lazy = Open();
        if (lazy.Value.IsFaulted)
        {
            // A failed open (a damaged disk.json, a size mismatch) is tried again at the next offer, once the operator has acted.
            _disks.TryRemove(KeyValuePair.Create(diskId, lazy));
            lazy = Open();
        }
        return lazy.Value;
    }

    /// <summary>The disk, when it is open and ready here; null while it opens, after it failed to, or when it never was.</summary>
    ReplicaDisk? OpenedDisk(string diskId) =>
        _disks.TryGetValue(diskId, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully ? lazy.Value.Result : null;

    /// <summary>The disks this master target holds (opened since start).</summary>
    public IReadOnlyDictionary<string, (long AppliedThrough, long Size)> Disks =>
        _disks.Where(kv => kv.Value.IsValueCreated && kv.Value.Value.IsCompletedSuccessfully)
              .ToDictionary(kv => kv.Key, kv => (kv.Value.Value.Result.DurableThrough, kv.Value.Value.Result.Size));

    /// <summary>True when <paramref name="diskId"/> has a replica on this master target (opened or on disk).</summary>
    public bool Knows(string diskId)
    {
        try { CheckDiskId(diskId); }
        catch (InvalidDataException) { return false; }
        return _disks.ContainsKey(diskId) || File.Exists(ReplicaDisk.DiskFilePath(DiskDirectory(diskId)));
    }

    /// <summary>The disk, opened from what is on disk if it was not offered since start; <see cref="KeyNotFoundException"/> when unknown.</summary>
    public async Task<ReplicaDisk> GetDiskAsync(string diskId)
    {
        CheckDiskId(diskId);
        RefuseReturned(diskId);
        if (_disks.TryGetValue(diskId, out var lazy)) return await lazy.Value.ConfigureAwait(false);
        var sizeFile = ReplicaDisk.DiskFilePath(DiskDirectory(diskId));
        if (!File.Exists(sizeFile))
            throw new KeyNotFoundException($"disk {diskId} has no replica on master target {_options.ServerId}");
        var size = ReplicaDisk.ReadRecordedSize(sizeFile, diskId);
        return await OpenDiskAsync(diskId, size).ConfigureAwait(false);
    }

    /// <summary>Every disk with a replica on this master target, whether or not its agent is connected now (a failover needs the disks of agents that are gone).</summary>
    public IReadOnlyList<string> KnownDiskIds()
    {
        var root = Path.Combine(_options.DataDirectory, "disks");
        var onDisk = Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Where(d => File.Exists(ReplicaDisk.DiskFilePath(d))).Select(Path.GetFileName).OfType<string>()
            : [];
        // A disk given back is a running machine's now: nothing here may fail it over or read it.
        return onDisk.Concat(_disks.Keys).Distinct(StringComparer.Ordinal).Where(d => !File.Exists(ReturnedNote(d))).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Stops <paramref name="disk"/> at a storage fault (see <see cref="ReplicaDisk.Stop"/>): reported once, closed in the
    /// background without committing, and the returned exception ends its session with nothing acknowledged past it.
    /// </summary>
    internal IOException StorageFailed(ReplicaDisk disk, Exception error)
    {
        var (fault, isNew) = disk.Stop(error);
        var text = $"disk {disk.DiskId}: replication stopped after #{fault.StoppedAfter}: {fault.Reason}: {fault.Detail}";
        if (isNew)
        {
            _log(text + "; nothing past it is acknowledged; the disk is reopened from its journal once the storage takes writes again");
            _events.ReplicationStopped(disk.DiskId, fault.Reason, fault.StoppedAfter, fault.Detail);
            _ = Task.Run(disk.CloseAfterFaultAsync);
        }
        return new IOException(text, error);
    }
}
