using System.Globalization;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// Recovery points as page-blob snapshots (<see cref="PageBlobReplicaOptions.SnapshotPoints"/>).
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>A snapshot is taken under <see cref="_mutate"/> after the pending run is uploaded, so it holds every write the
/// master target applied before it asked (and, as it asks while holding the disk's gate right after the point's marker,
/// none after the point).</item>
/// <item>The snapshot's own metadata names its point and sequence (a snapshot's metadata is fixed when it is taken), so
/// the record cannot be separated from the bytes it describes, and a restart lists them from the service.</item>
/// <item>Only snapshots carrying that record are listed or pruned: a snapshot someone else took of the blob is left alone.</item>
/// </list>
/// </summary>
public sealed partial class PageBlobReplicaStore : IPointSnapshots
{
    // Metadata keys are C# identifiers, values printable ASCII: the point's name is percent-encoded.
    const string PointKey = "srpoint";
    const string SequenceKey = "srsequence";

    public bool SnapshotsPoints => _options.SnapshotPoints;

    public async ValueTask<PointSnapshot> SnapshotPointAsync(string point, long sequence, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(point);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequence);
        ThrowIfDisposed();
        await _mutate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfStopped();
            await UploadPendingAsync(cancellationToken).ConfigureAwait(false);
            ThrowIfLeaseLost();
            var metadata = new Dictionary<string, string>
            {
                [PointKey] = Uri.EscapeDataString(point),
                [SequenceKey] = sequence.ToString(CultureInfo.InvariantCulture),
            };
            try
            {
                var taken = await _blob.CreateSnapshotAsync(metadata, cancellationToken: cancellationToken).ConfigureAwait(false);
                return new PointSnapshot(point, sequence, taken.Value.Snapshot);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw PageBlobReplicaException.From(DiskId, BlobName, $"snapshot point '{point}' at #{sequence}", e);
            }
        }
        finally { _mutate.Release(); }
    }

    public async ValueTask<IReadOnlyList<PointSnapshot>> ListPointSnapshotsAsync(CancellationToken cancellationToken = default)
    {
        var all = await ListAllAsync(cancellationToken).ConfigureAwait(false);
        // A marker applied twice (resent after a restart before it was durable) was snapshotted twice, with the same bytes:
        // the later one stands for it. Snapshot timestamps are ISO 8601 of one width, so they order as strings.
        return all.GroupBy(s => s.Sequence).Select(g => g.MaxBy(s => s.Snapshot, StringComparer.Ordinal)!).OrderBy(s => s.Sequence).ToList();
    }

    public async ValueTask<int> PrunePointSnapshotsAsync(long oldestSequence, CancellationToken cancellationToken = default)
    {
        var deleted = 0;
        foreach (var s in await ListAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (s.Sequence >= oldestSequence) continue;
            try { await _blob.WithSnapshot(s.Snapshot).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw PageBlobReplicaException.From(DiskId, BlobName, $"delete snapshot {s.Snapshot} of point '{s.Point}' at #{s.Sequence}", e);
            }
            deleted++;
        }
        return deleted;
    }

    /// <summary>Every recorded snapshot, duplicates of a sequence included (pruning deletes them all).</summary>
    async Task<List<PointSnapshot>> ListAllAsync(CancellationToken ct)
    {
        var all = new List<PointSnapshot>();
        try
        {
            await foreach (var item in _blob.GetParentBlobContainerClient().GetBlobsAsync(BlobTraits.Metadata, BlobStates.Snapshots, _blob.Name, ct).ConfigureAwait(false))
                if (item.Name == _blob.Name && !string.IsNullOrEmpty(item.Snapshot) && item.Metadata.TryGetValue(PointKey, out var point)
                    && item.Metadata.TryGetValue(SequenceKey, out var seq) && long.TryParse(seq, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
                    all.Add(new PointSnapshot(Uri.UnescapeDataString(point), sequence, item.Snapshot));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, BlobName, "list point snapshots", e);
        }
        return all;
    }

    /// <summary>Downloads the snapshot's first <see cref="Size"/> bytes (the disk, not its footer) to a temporary file, fsyncs it, then renames it into place.</summary>
    public async ValueTask MaterializeAsync(PointSnapshot snapshot, string outputPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var temp = outputPath + ".partial";
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                var response = await _blob.WithSnapshot(snapshot.Snapshot)
                    .DownloadStreamingAsync(new BlobDownloadOptions { Range = new HttpRange(0, Size) }, cancellationToken).ConfigureAwait(false);
                await using (var content = response.Value.Content)
                    await content.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                if (file.Length != Size)
                    throw new InvalidDataException($"snapshot {snapshot.Snapshot} of '{BlobName}' (point '{snapshot.Point}' at #{snapshot.Sequence}): downloaded {file.Length} bytes, want the disk's {Size}");
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, outputPath, overwrite: true);
        }
        catch (Exception e) when (e is RequestFailedException or System.Net.Http.HttpRequestException or AggregateException)
        {
            File.Delete(temp);
            throw PageBlobReplicaException.From(DiskId, BlobName, $"download snapshot {snapshot.Snapshot} of point '{snapshot.Point}' at #{snapshot.Sequence}", e);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
