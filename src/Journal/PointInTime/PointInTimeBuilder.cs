using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Journal.Recovery;
using SiteRecovery.Journal.Retention;

namespace SiteRecovery.Journal.PointInTime;

/// <summary>
/// Builds a disk image as it was at a given sequence by replaying the retention journal onto zeroes. For now the
/// journal must still hold sequence 1 (no base checkpoints yet), so the replay starts from an all-zero disk.
/// </summary>
public sealed class PointInTimeBuilder(DeltaCompression compression)
{
    public PointInTimeBuilder() : this(new DeltaCompression()) { }

    /// <summary>
    /// Replays sequences FirstSequence..<paramref name="throughSequence"/> of <paramref name="log"/> into a sparse file of
    /// <paramref name="diskSize"/> bytes at <paramref name="outputPath"/>. The image is written under a temporary name,
    /// fsynced and renamed, so <paramref name="outputPath"/> either does not exist or is complete. Throws
    /// <see cref="PointInTimeUnavailableException"/> if the log no longer holds sequence 1 or does not durably reach
    /// <paramref name="throughSequence"/>; checksum and range errors from decoding and applying propagate.
    /// </summary>
    public async Task<MaterializeResult> MaterializeAsync(
        SegmentLog log, long throughSequence, long diskSize, string outputPath,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentOutOfRangeException.ThrowIfNegative(throughSequence);
        ArgumentOutOfRangeException.ThrowIfNegative(diskSize);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);

        var first = log.FirstSequence;
        if (throughSequence >= 1 && first != 1)
            throw new PointInTimeUnavailableException(
                $"journal '{log.Directory}' starts at sequence {(first == 0 ? "(none held)" : first)}; sequence 1 was trimmed and base checkpoints are not supported yet");
        if (log.DurableSequence < throughSequence)
            throw new PointInTimeUnavailableException(
                $"journal '{log.Directory}' durably reaches sequence {log.DurableSequence}, short of the requested {throughSequence}");

        outputPath = Path.GetFullPath(outputPath);
        long count = 0, written = 0, zeroed = 0;
        await NewImageFile.WriteAsync(outputPath, diskSize, async handle =>
        {
            ImageStore? image = null;
            if (throughSequence >= 1)
            {
                var expected = 1L;
                foreach (var (sequence, record) in log.Read(1, throughSequence))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var delta = compression.DecodeStored(record);
                    if (sequence != expected || delta.Sequence != sequence)
                        throw new InvalidDataException(
                            $"journal '{log.Directory}' gave record {delta.DiskId}#{delta.Sequence} at log position {sequence}, expected {expected}");
                    // The image takes the disk id of the stream, so the applier can still refuse a foreign delta.
                    image ??= new ImageStore(delta.DiskId, diskSize, handle);
                    await ReplicaApplier.ApplyAsync(image, delta, cancellationToken).ConfigureAwait(false);
                    count++;
                    if (delta.Kind == DeltaKind.Write) written += delta.Length;
                    else if (delta.Kind is DeltaKind.Zero or DeltaKind.Trim) zeroed += delta.Length;
                    if ((count & 1023) == 0) progress?.Report((double)sequence / throughSequence);
                    expected++;
                }
                if (expected != throughSequence + 1)
                    throw new PointInTimeUnavailableException($"journal '{log.Directory}' ended at sequence {expected - 1}, short of {throughSequence}");
            }
        }, replace: true, syncDirectory: true).ConfigureAwait(false);

        var sha = await ImageHashing.Sha256OfFileAsync(outputPath, cancellationToken).ConfigureAwait(false);
        progress?.Report(1.0);
        return new MaterializeResult(outputPath, throughSequence, count, written, zeroed, sha);
    }

    /// <summary>
    /// Replays the point <paramref name="pin"/> shows into a new image at <paramref name="outputPath"/> the long way: the
    /// base image copied whole, then every journal record after it up to the point applied in order, through the same
    /// checks as live apply. It shares no code with the view's extent map, so a drill can compare the two (the view pins
    /// the base and journal meanwhile). Returns the image's SHA-256 in the result.
    /// </summary>
    public async Task<MaterializeResult> ReplayFromBaseAsync(PointInTimeView pin, SegmentLog log, string outputPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pin);
        ArgumentNullException.ThrowIfNull(log);
        outputPath = Path.GetFullPath(outputPath);
        long count = 0, written = 0, zeroed = 0;
        await NewImageFile.WriteAsync(outputPath, pin.Size, async handle =>
        {
            var block = new byte[BaseImage.BlockSize];
            for (long offset = 0; offset < pin.Size; offset += block.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = (int)Math.Min(block.Length, pin.Size - offset);
                pin.Base.Read(offset, block.AsSpan(0, n));
                if (block.AsSpan(0, n).ContainsAnyExcept((byte)0)) RandomAccess.Write(handle, block.AsSpan(0, n), offset);
            }
            if (pin.Sequence > pin.BaseSequence)
            {
                var image = new ImageStore(pin.DiskId, pin.Size, handle);
                var expected = pin.BaseSequence + 1;
                foreach (var (sequence, record) in log.Read(expected, pin.Sequence))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var delta = compression.DecodeStored(record);
                    if (sequence != expected || delta.Sequence != sequence)
                        throw new InvalidDataException($"journal '{log.Directory}' gave record {delta.DiskId}#{delta.Sequence} at log position {sequence}, expected {expected}");
                    await ReplicaApplier.ApplyAsync(image, delta, cancellationToken).ConfigureAwait(false);
                    count++;
                    if (delta.Kind == DeltaKind.Write) written += delta.Length;
                    else if (delta.Kind is DeltaKind.Zero or DeltaKind.Trim) zeroed += delta.Length;
                    expected++;
                }
                if (expected != pin.Sequence + 1)
                    throw new PointInTimeUnavailableException($"journal '{log.Directory}' ended at sequence {expected - 1}, short of {pin.Sequence}");
            }
        }, replace: true, syncDirectory: false).ConfigureAwait(false);
        var sha = await ImageHashing.Sha256OfFileAsync(outputPath, cancellationToken).ConfigureAwait(false);
        return new MaterializeResult(outputPath, pin.Sequence, count, written, zeroed, sha);
    }

    /// <summary>The image under construction as a replica store, so replay goes through the same checks as live apply.</summary>
    private sealed class ImageStore(string diskId, long size, Microsoft.Win32.SafeHandles.SafeFileHandle handle) : IReplicaStore
    {
        public string DiskId { get; } = diskId;
        public long Size { get; } = size;

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        {
            ReplicaRange.Check(DiskId, Size, offset, data.Length);
            return RandomAccess.WriteAsync(handle, data, offset, cancellationToken);
        }

        public ValueTask ZeroAsync(long offset, long length, CancellationToken cancellationToken = default)
        {
            ReplicaRange.Check(DiskId, Size, offset, length);
            return SparseFile.ZeroAsync(handle, offset, length, cancellationToken);
        }

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ReplicaRange.Check(DiskId, Size, offset, buffer.Length);
            return SparseFile.ReadExactlyAsync(handle, offset, buffer, cancellationToken);
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken = default)
        {
            RandomAccess.FlushToDisk(handle);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the builder owns the handle
    }
}
