using System.Text.Json;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The disk's <see cref="PointLedger"/>: which bookmark markers of its journal still owe the catalogue a report. Kept in
/// <c>points.json</c> beside the journal and written at most once per progress interval (a ledger a little behind only
/// means a longer look through the journal after a restart, never a missed marker).
/// </summary>
public sealed partial class ReplicaDisk
{
    readonly object _pointsLock = new();
    PointLedger _points = PointLedger.Empty;
    PointLedger _pointsSaved = PointLedger.Empty;

    string PointsPath => Path.Combine(_directory, "points.json");

    sealed record PointsFile(long SeenThrough, IReadOnlyList<DurableMarker> Pending);

    /// <summary>
    /// At open: the ledger as last saved, then every marker the journal holds above what it had seen (a crash can come
    /// after a marker's fsync and before its report), so the next <see cref="TakeDurableMarkers"/> reports them all.
    /// </summary>
    void LoadPoints()
    {
        var ledger = File.Exists(PointsPath)
            ? DurableFile.Read(PointsPath, $"recovery point ledger of disk {DiskId}", bytes =>
              {
                  var file = JsonSerializer.Deserialize<PointsFile>(bytes) ?? throw new FormatException("it holds null");
                  return PointLedger.Restored(file.SeenThrough, file.Pending);
              }, "Delete it: the disk's whole journal is then read for its bookmark markers at the next open, and each is reported again (the catalogue keeps one point per name).")
            : PointLedger.Empty;
        var from = Math.Max(ledger.SeenThrough + 1, Journal.FirstSequence);
        if (Journal.DurableSequence >= from)
            foreach (var (_, record) in Journal.Read(from, Journal.DurableSequence))
            {
                var header = DeltaCodec.Decode(record, out var compressed);
                if (header.Kind != DeltaKind.Bookmark) continue;
                var marker = compressed ? _compression.DecodeStored(record) : header;
                ledger = ledger.Appended(new DurableMarker(marker.Sequence, marker.BookmarkId, marker.TimeUnixMs));
            }
        _points = _pointsSaved = ledger.Passed(Journal.DurableSequence);
    }

    /// <summary>A bookmark marker is about to be journaled. Before the append, so no durable marker is ever missing from the ledger.</summary>
    void MarkerAppending(Delta delta)
    {
        if (ResyncMarker.TryParse(delta.BookmarkId, out _, out _)) return; // bounds a resync, never a point
        lock (_pointsLock) _points = _points.Appended(new DurableMarker(delta.Sequence, delta.BookmarkId, delta.TimeUnixMs));
    }

    /// <summary>The markers now durable that were not reported yet, in sequence order; each must be settled once its report is answered.</summary>
    public IReadOnlyList<DurableMarker> TakeDurableMarkers()
    {
        lock (_pointsLock)
        {
            var (ledger, due) = _points.TakeDurable(DurableThrough);
            _points = ledger;
            return due;
        }
    }

    /// <summary>The marker's report was answered, or it is no point of its own.</summary>
    public void MarkerSettled(long sequence)
    {
        lock (_pointsLock) _points = _points.Settled(sequence);
    }

    /// <summary>
    /// Moves the ledger up to the durable journal and writes it when it changed. The caller paces it (the disk's writer,
    /// once per progress interval).
    /// </summary>
    public void SavePoints()
    {
        lock (_pointsLock)
        {
            _points = _points.Passed(DurableThrough);
            if (_points.SeenThrough == _pointsSaved.SeenThrough && _points.Pending.Keys.SequenceEqual(_pointsSaved.Pending.Keys)
                && _points.Unreported.Keys.SequenceEqual(_pointsSaved.Unreported.Keys)) return;
            // Unreported markers are kept too: one restored from the file may lie at or below what the ledger has seen.
            var file = new PointsFile(_points.SeenThrough, _points.Pending.Values.Concat(_points.Unreported.Values).ToList());
            DurableFile.WriteAtomically(PointsPath, JsonSerializer.SerializeToUtf8Bytes(file), null, "recovery point ledger");
            _pointsSaved = _points;
        }
    }
}
