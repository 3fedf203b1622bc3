using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Journal.Replicas;

/// <summary>
/// A store that can write a point as a new disk image beside the replica (a page blob with a fixed-VHD footer in the
/// replica's container), which a compute target can make a disk of without touching the replica or its snapshots.
/// </summary>
public interface IPointImageBlobs
{
    /// <summary>
    /// Why <paramref name="name"/> cannot be written as a new image blob here (not a name the store takes, or a blob by
    /// that name exists), null when it can. Only reads; <see cref="WriteImageBlobAsync"/> still refuses a blob created meanwhile.
    /// </summary>
    ValueTask<string?> ImageBlobRefusalAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes <paramref name="view"/>'s disk as the new blob <paramref name="name"/>. Never over an existing blob (refused
    /// with <see cref="InvalidOperationException"/> naming it); the footer, which makes the blob a disk image, is written
    /// last, and a blob whose writing failed is deleted, so a blob with a footer always holds the whole point.
    /// </summary>
    Task<PointImageBlob> WriteImageBlobAsync(string name, PointInTimeView view, IProgress<double>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>A point written as an image blob: where it is (<paramref name="Uri"/>, without credentials) and what writing it took.</summary>
/// <param name="Size">The disk's size (the blob is one footer longer).</param>
/// <param name="BytesUploaded">Bytes sent in page uploads (all-zero ranges are not sent: a new page blob reads as zeroes).</param>
public sealed record PointImageBlob(string Name, Uri Uri, long Sequence, long Size, long BytesUploaded, int Requests);
