using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Azure.Replicas;

/// <summary>
/// Points read from blob storage: a snapshot opened as a view's base (<see cref="PageBlobSnapshotBase"/>), and a point
/// written out as a new page blob with its own fixed-VHD footer beside the replica.
/// <para>Invariants of an image blob:</para>
/// <list type="bullet">
/// <item>Never written over anything: it is created only where no blob is (<c>If-None-Match: *</c>), so neither the
/// replica nor another point's image can be its target.</item>
/// <item>Complete or footerless: its pages are uploaded first and its footer last, so a blob whose writing stopped is no
/// VHD (Azure makes no disk of it); a failure deletes it besides.</item>
/// <item>Each page upload carries its MD5, checked by the service before it stores the pages.</item>
/// </list>
/// </summary>
public sealed partial class PageBlobReplicaStore : IPointSnapshotReads, IPointImageBlobs
{
    public async ValueTask<IPointBase> OpenSnapshotBaseAsync(PointSnapshot snapshot, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ThrowIfDisposed();
        return await PageBlobSnapshotBase.OpenAsync(_blob, snapshot, Size, _options.PointReadAhead, DiskId, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<string?> ImageBlobRefusalAsync(string name, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (ImageBlobNameProblem(name) is { } problem) return problem;
        var target = _blob.GetParentBlobContainerClient().GetBlobClient(name);
        var where = $"{target.BlobContainerName}/{name}";
        try
        {
            if ((await target.ExistsAsync(cancellationToken).ConfigureAwait(false)).Value) return ExistsAlready(where);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, where, "look for an image blob of that name", e);
        }
        return null;
    }

    public async Task<PointImageBlob> WriteImageBlobAsync(string name, PointInTimeView view, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(view);
        ThrowIfDisposed();
        if (ImageBlobNameProblem(name) is { } problem) throw new ArgumentException(problem, nameof(name));
        if (view.DiskId != DiskId || view.Size != Size)
            throw new ArgumentException($"a view of disk {view.DiskId} ({view.Size} bytes) is no point of disk {DiskId} ({Size} bytes)", nameof(view));
        var target = _blob.GetParentBlobContainerClient().GetPageBlobClient(name);
        var where = $"{target.BlobContainerName}/{name}";
        try
        {
            await target.CreateAsync(Size + VhdFooter.Length, new PageBlobCreateOptions { Conditions = new PageBlobRequestConditions { IfNoneMatch = ETag.All } },
                cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw new InvalidOperationException(ExistsAlready(where), e);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, where, $"create the image blob of #{view.Sequence}", e);
        }

        try
        {
            var (uploaded, requests) = await UploadViewAsync(target, where, view, progress, cancellationToken).ConfigureAwait(false);
            var footer = VhdFooter.ForFixedDisk(Size, Guid.NewGuid(), DateTimeOffset.UtcNow).ToBytes();
            await UploadImagePagesAsync(target, where, Size, footer, footer.Length, cancellationToken).ConfigureAwait(false);
            progress?.Report(1.0);
            return new PointImageBlob(name, new BlobUriBuilder(target.Uri) { Sas = null, Query = "" }.ToUri(), view.Sequence, Size, uploaded, requests + 1);
        }
        catch
        {
            // Footerless already; deleted so that nothing half-written is left under a name someone chose.
            try { await target.DeleteIfExistsAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is RequestFailedException or IOException or System.Net.Http.HttpRequestException) { }
            throw;
        }
    }

    /// <summary>
    /// Reads the view in upload-sized chunks and uploads those that are not all zeroes (a new page blob reads as zeroes),
    /// reading the next chunk while the previous one uploads.
    /// </summary>
    async Task<(long Uploaded, int Requests)> UploadViewAsync(PageBlobClient target, string where, PointInTimeView view, IProgress<double>? progress, CancellationToken ct)
    {
        var chunk = (int)Math.Min(_options.MaxUploadBytes, Size);
        byte[] reading = new byte[chunk], sending = new byte[chunk];
        long uploaded = 0;
        var requests = 0;
        Task upload = Task.CompletedTask;
        for (long offset = 0; offset < Size; offset += chunk)
        {
            var n = (int)Math.Min(chunk, Size - offset);
            var at = offset;
            var buffer = reading;
            // The view reads synchronously (a snapshot base downloads on the calling thread): off this one.
            await Task.Run(() => view.Read(at, buffer.AsSpan(0, n)), ct).ConfigureAwait(false);
            await upload.ConfigureAwait(false);
            if (!buffer.AsSpan(0, n).ContainsAnyExcept((byte)0))
            {
                upload = Task.CompletedTask;
                continue;
            }
            (reading, sending) = (sending, reading);
            upload = UploadImagePagesAsync(target, where, at, sending, n, ct);
            uploaded += n;
            requests++;
            progress?.Report((double)(offset + n) / Size);
        }
        await upload.ConfigureAwait(false);
        return (uploaded, requests);
    }

    async Task UploadImagePagesAsync(PageBlobClient target, string where, long offset, byte[] pages, int length, CancellationToken ct)
    {
        var options = new PageBlobUploadPagesOptions
        {
            TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
        };
        try
        {
            // A seekable stream: the SDK rewinds it to resend the same bytes when it retries (a page upload is idempotent).
            using var body = new MemoryStream(pages, 0, length, writable: false);
            await target.UploadPagesAsync(body, offset, options, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw PageBlobReplicaException.From(DiskId, where, $"upload pages {offset}+{length}", e);
        }
    }

    string ExistsAlready(string where) => $"page blob '{where}' exists already; a point of disk {DiskId} is written only as a new blob, never over one";

    /// <summary>What is wrong with <paramref name="name"/> as an image blob's: a blob name Azure takes (1..1024 characters, no control characters) that ends in .vhd, as a disk image's does.</summary>
    static string? ImageBlobNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 1024 || name.Any(char.IsControl) || name.EndsWith('/') || name.EndsWith('.'))
            return $"image blob name '{name}': 1 to 1024 characters, no control characters, not ending in '/' or '.'";
        if (!name.EndsWith(".vhd", StringComparison.Ordinal))
            return $"image blob name '{name}': must end in .vhd (it holds a fixed VHD)";
        return null;
    }
}
