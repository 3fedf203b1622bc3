using Microsoft.Win32.SafeHandles;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// The writes and fsyncs a <see cref="SegmentLog"/> makes to its active file: the seam through which tests inject
/// storage faults (EIO, ENOSPC) into a real log. The product only ever uses <see cref="RealSegmentFileIo"/>.
/// </summary>
public interface ISegmentFileIo
{
    /// <summary>Writes <paramref name="bytes"/> at <paramref name="offset"/> of <paramref name="file"/>, all of them or throws.</summary>
    void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset);

    /// <summary>Makes what was written to <paramref name="file"/> durable (fsync); throws when the device reports an error.</summary>
    void FlushToDisk(SafeFileHandle file);
}

/// <summary>The real file: <see cref="RandomAccess"/>.</summary>
public sealed class RealSegmentFileIo : ISegmentFileIo
{
    public static RealSegmentFileIo Instance { get; } = new();

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset) => RandomAccess.Write(file, bytes, offset);

    public void FlushToDisk(SafeFileHandle file) => RandomAccess.FlushToDisk(file);
}
