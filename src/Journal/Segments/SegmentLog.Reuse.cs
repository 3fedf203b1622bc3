using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Trimming whole files off the front of the log, and parking them for reuse. Apart because reuse is where a reader
/// could be surprised (a parked file's next life is written under any handle still open on it), so the two rules that
/// prevent it stay together: a pinned file is deleted, never parked, and a reused file's earlier life is cut off before
/// it is sealed or the log is closed cleanly.
/// </summary>
public sealed partial class SegmentLog
{
    /// <summary>
    /// Deletes sealed files whose last sequence is ≤ <paramref name="sequence"/> (spool acknowledged downstream, or
    /// retention expired), or parks them for reuse (<see cref="SegmentLogOptions.RecycleSegments"/>). Never removes a
    /// file holding anything above <paramref name="sequence"/>, and never the active file, so trimming is by whole
    /// files. Returns how many files were removed from the log.
    /// </summary>
    public int TrimThrough(long sequence)
    {
        lock (_trimGate)
        {
            List<(string Path, bool Open)> victims = [];
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                // Removing from the index first makes concurrent readers report "not held" instead of racing the delete.
                // Whether a reader still has the file open is decided here too, under the gate readers open files under.
                while (_files.Count > 0 && _files[0].Sealed && _files[0].Last <= sequence)
                {
                    var f = _files[0];
                    f.Trimmed = true;
                    victims.Add((f.Path, f.Readers > 0));
                    _files.RemoveAt(0);
                }
            }
            foreach (var (path, open) in victims)
            {
                // A file a reader still has open is deleted, never parked: reused, its next life would be written under
                // the reader's handle (the handle follows the file through renames), and the reader would find frames
                // of another life where its records were. Deleted, the reader keeps reading what the file held.
                if (!open && _free.Count < _options.RecycleSegments)
                {
                    // A parked file is not a segment to recovery, so renaming it away is as final as deleting it.
                    var parked = Path.Combine(_directory, SegmentFileName.Free(++_nextFreeId));
                    File.Move(path, parked);
                    _free.Enqueue(parked);
                }
                else File.Delete(path);
                // One directory fsync per file keeps removals in order, so a crash cannot leave a gap at the front.
                DirectorySync.Flush(_directory);
            }
            return victims.Count;
        }
    }

    /// <summary>Cuts a reused active file back to its records and makes that durable.</summary>
    private void CutReusedTail()
    {
        if (!_activeReused) return;
        RandomAccess.SetLength(_active!, _activeOnDisk);
        RandomAccess.FlushToDisk(_active!);
        _activeReused = false;
    }
}
