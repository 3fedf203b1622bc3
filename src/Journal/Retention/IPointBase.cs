namespace SiteRecovery.Journal.Retention;

/// <summary>
/// What a <see cref="PointInTimeView"/> reads where the journal holds no record of the range: the disk as it was at the
/// view's base sequence. The retention's own <see cref="BaseImage"/> (a local file), or a replica's snapshot of a point
/// (a page blob's snapshot), so a point is read from either by the same view, materializer and export.
/// <para>Blocks are <see cref="BaseImage.BlockSize"/> bytes (the last one shorter); every read is verified by the
/// implementation (a block hash, a transfer checksum) and a mismatch throws <see cref="InvalidDataException"/>.</para>
/// </summary>
public interface IPointBase
{
    /// <summary>The disk's size in bytes.</summary>
    long Size { get; }

    /// <summary>Blocks of <see cref="BaseImage.BlockSize"/> covering <see cref="Size"/>.</summary>
    int BlockCount { get; }

    /// <summary>Fills <paramref name="buffer"/> with the bytes at <paramref name="offset"/>. Safe to call from many threads.</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Reads one whole block into <paramref name="buffer"/> (at least <see cref="BaseImage.BlockSize"/> long); returns its length.</summary>
    int ReadBlock(int block, Span<byte> buffer);
}
