using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// Recovery, run once by <see cref="Open"/> before anyone can read or write: what a crash left in the directory is
/// verified, cut back or finished (an interrupted rotation), or refused. Apart because it alone decides what is kept;
/// the other parts then trust the file list it builds.
/// </summary>
public sealed partial class SegmentLog
{
    private readonly record struct Found(long First, long Last, bool Sealed, string Path, bool Salted)
    {
        public long Seed => Salted ? First : 0;
    }

    private readonly record struct ScanResult(long Count, long ValidLength, long FileLength, FrameStatus Stop, long BadLength);

    private ScanResult Scan(string path, long seed)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        using var reader = new FrameReader(handle, length, _options.ReadBufferBytes, _options.MaxRecordBytes, seed);
        long count = 0;
        FrameStatus status;
        while ((status = reader.Next(out _)) == FrameStatus.Record) count++;
        return new ScanResult(count, reader.Position, length, status, reader.LastLength);
    }

    /// <summary>Scans a file that must be entirely valid (sealed, or fsynced before a later file was created).</summary>
    private long ScanStrict(string path, long first, long expectedCount, long seed)
    {
        var scan = Scan(path, seed);
        if (scan.Stop != FrameStatus.End)
            throw new SegmentCorruptException(path, scan.ValidLength, first + scan.Count, Describe(scan.Stop, scan.BadLength));
        if (expectedCount >= 0 && scan.Count != expectedCount)
            throw new SegmentCorruptException(path, scan.ValidLength, first + scan.Count,
                $"file holds {scan.Count} records but its name says {expectedCount}");
        return scan.Count;
    }

    private void Recover()
    {
        var actions = new List<string>();
        var found = new List<Found>();
        var parked = new List<(long Id, string Path)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(_directory))
        {
            var name = Path.GetFileName(path);
            if (SegmentFileName.TryParse(name, out var first, out var last, out var isSealed, out var salted))
                found.Add(new Found(first, last, isSealed, path, salted));
            else if (SegmentFileName.TryParseFree(name, out var id))
                parked.Add((id, path));
        }
        // Parked files are kept for reuse up to the configured number; the rest (recycling turned down or off) go.
        parked.Sort((a, b) => a.Id.CompareTo(b.Id));
        foreach (var (id, path) in parked)
        {
            _nextFreeId = Math.Max(_nextFreeId, id);
            if (_free.Count < _options.RecycleSegments) _free.Enqueue(path);
            else
            {
                File.Delete(path);
                actions.Add($"deleted parked file '{path}' (recycle-segments is {_options.RecycleSegments})");
            }
        }
        found.Sort((a, b) => a.First.CompareTo(b.First));
        for (var i = 1; i < found.Count; i++)
            if (found[i].First == found[i - 1].First)
                throw new SegmentCorruptException(found[i].Path, 0, found[i].First, $"starts at the same sequence as '{found[i - 1].Path}'");

        string? truncatedFile = null;
        long truncatedAt = 0, bytesCut = 0;
        string? reason = null;

        for (var i = 0; i < found.Count; i++)
        {
            var f = found[i];
            var isLast = i == found.Count - 1;
            if (f.Sealed)
            {
                var count = f.Last - f.First + 1;
                long length;
                if (_options.VerifySealedOnOpen || isLast)
                {
                    ScanStrict(f.Path, f.First, count, f.Seed);
                    length = new FileInfo(f.Path).Length;
                }
                else
                {
                    length = new FileInfo(f.Path).Length;
                }
                AddRecovered(f.First, f.Path, f.Salted, true, count, length);
            }
            else if (!isLast)
            {
                // An active file left behind by an interrupted rotation: it was fsynced before any later file existed.
                var count = ScanStrict(f.Path, f.First, -1, f.Seed);
                if (count == 0)
                {
                    File.Delete(f.Path);
                    actions.Add($"deleted empty leftover active file '{f.Path}'");
                    continue;
                }
                var sealedPath = Path.Combine(_directory, SegmentFileName.Sealed(f.First, f.First + count - 1, f.Salted));
                File.Move(f.Path, sealedPath);
                actions.Add($"sealed leftover active file '{f.Path}' as '{sealedPath}'");
                AddRecovered(f.First, sealedPath, f.Salted, true, count, new FileInfo(sealedPath).Length);
            }
            else
            {
                // The active file: a torn or corrupt tail is what a crash leaves behind; cut it back to the last good frame.
                var scan = Scan(f.Path, f.Seed);
                if (scan.Stop != FrameStatus.End)
                {
                    truncatedFile = f.Path;
                    truncatedAt = scan.ValidLength;
                    bytesCut = scan.FileLength - scan.ValidLength;
                    reason = $"{Describe(scan.Stop, scan.BadLength)} at sequence {f.First + scan.Count}";
                }
                using (var fs = new FileStream(f.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete))
                {
                    if (truncatedFile is not null) fs.SetLength(scan.ValidLength);
                    // Recovered bytes may have been only in the page cache if just the process died; make them durable now.
                    fs.Flush(flushToDisk: true);
                }
                AddRecovered(f.First, f.Path, f.Salted, false, scan.Count, scan.ValidLength, writtenFrom: scan.ValidLength);
            }
        }

        for (var i = 1; i < _files.Count; i++)
        {
            var prev = _files[i - 1];
            if (_files[i].First != prev.Last + 1)
                throw new SegmentCorruptException(_files[i].Path, 0, _files[i].First,
                    $"does not follow '{prev.Path}' (which ends at sequence {prev.Last}): sequences {prev.Last + 1}..{_files[i].First - 1} are missing");
        }

        if (_files.Count == 0 || _files[^1].Sealed)
        {
            var first = _files.Count == 0 ? _options.InitialSequence : _files[^1].Last + 1;
            var salted = _options.RecycleSegments > 0;
            var path = Path.Combine(_directory, SegmentFileName.Open(first, salted));
            PrivateFiles.CreateNew(path);
            _files.Add(new SegmentFile(first, path, salted) { WrittenFrom = 0 });
            actions.Add($"created active file '{path}'");
        }
        DirectorySync.Flush(_directory);

        var active = _files[^1];
        _active = File.OpenHandle(active.Path, FileMode.Open, FileAccess.Write, FileShare.Read | FileShare.Delete);
        _activeCount = active.DurableCount;
        _activeBytes = active.DurableLength;
        _activeOnDisk = active.DurableLength;
        _activeSeed = active.Seed;
        _activeReused = false; // recovery cut the file back to its last good frame
        _lastSequence = active.First + active.DurableCount - 1;
        _durableSequence = _lastSequence;
        Recovery = new RecoveryReport(FirstHeldLocked(), _lastSequence, truncatedFile, truncatedAt, bytesCut, reason, actions);
    }

    private void AddRecovered(long first, string path, bool salted, bool isSealed, long count, long length, long writtenFrom = long.MaxValue)
        => _files.Add(new SegmentFile(first, path, salted) { Sealed = isSealed, DurableCount = count, DurableLength = length, WrittenFrom = writtenFrom });
}
