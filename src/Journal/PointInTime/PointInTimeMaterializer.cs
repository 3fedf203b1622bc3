using SiteRecovery.Journal.Checkpoints;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Retention;
using SiteRecovery.Journal.Segments;

namespace SiteRecovery.Journal.PointInTime;

/// <summary>
/// Writes a point-in-time view to an image file: the base image block by block (verified; all-zero blocks stay
/// holes), then each final extent once, records read in journal order. The journal read is what lies between the
/// newest checkpoint at or below the point and the point, plus the live extents — never the whole window.
/// </summary>
public static class PointInTimeMaterializer
{
    /// <summary>
    /// Writes <paramref name="view"/> to <paramref name="outputPath"/> under a temporary name, fsyncs and renames it,
    /// so the output either does not exist or is complete. <paramref name="computeSha256"/> adds a read of the image.
    /// </summary>
    public static async Task<MaterializeResult> MaterializeAsync(PointInTimeView view, string outputPath, IProgress<double>? progress = null,
        bool computeSha256 = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        outputPath = Path.GetFullPath(outputPath);
        long records = 0, written = 0, zeroed = 0;
        await NewImageFile.WriteAsync(outputPath, view.Size, async handle =>
        {
            var buffer = new byte[BaseImage.BlockSize];
            var blocks = view.Base.BlockCount;
            for (var b = 0; b < blocks; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var len = view.Base.ReadBlock(b, buffer);
                if (buffer.AsSpan(0, len).ContainsAnyExcept((byte)0))
                    RandomAccess.Write(handle, buffer.AsSpan(0, len), (long)b * BaseImage.BlockSize);
                if ((b & 63) == 0) progress?.Report(0.5 * b / blocks);
            }

            var extents = view.Extents.OrderBy(e => e.Location.SegmentFirst).ThenBy(e => e.Location.Offset).ThenBy(e => e.Start).ToList();
            byte[]? payload = null;
            var current = 0L;
            for (var i = 0; i < extents.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var e = extents[i];
                if (e.Kind == ExtentKind.Zero)
                {
                    await SparseFile.ZeroAsync(handle, e.Start, e.Length, cancellationToken).ConfigureAwait(false);
                    zeroed += e.Length;
                    continue;
                }
                if (payload is null || current != e.Sequence)
                {
                    payload = view.LoadPayload(e);
                    current = e.Sequence;
                    records++;
                }
                RandomAccess.Write(handle, payload.AsSpan(e.DataOffset, (int)e.Length), e.Start);
                written += e.Length;
                if ((i & 1023) == 0) progress?.Report(0.5 + 0.5 * i / extents.Count);
            }
        }, replace: false, syncDirectory: true).ConfigureAwait(false);
        var sha = computeSha256 ? await ImageHashing.Sha256OfFileAsync(outputPath, cancellationToken).ConfigureAwait(false) : "";
        progress?.Report(1.0);
        return new MaterializeResult(outputPath, view.Sequence, records, written, zeroed, sha);
    }
}
