using Microsoft.Win32.SafeHandles;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Journal.Segments;

/// <summary>
/// The writes and fsyncs a <see cref="SegmentLog"/> makes to its active file: the seam through which tests inject
/// storage faults (EIO, ENOSPC) into a real log. The product only ever uses <see cref="RealSegmentFileIo"/>.
/// </summary>
public interface ISegmentFileIo
{
    /// <summary>Writes <paramref name="bytes"/> at <paramref name="offset"/> of <paramref name="file"/>, all of them or throws.</summary>
    void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset);

    /// <summary>
    /// Writes <paramref name="header"/> then <paramref name="record"/> at <paramref name="offset"/>, all of them or throws.
    /// One gathered write in the real file; an injector that only knows <see cref="Write(SafeFileHandle, ReadOnlySpan{byte}, long)"/>
    /// sees the two parts as two writes.
    /// </summary>
    void Write(SafeFileHandle file, ReadOnlySpan<byte> header, ReadOnlySpan<byte> record, long offset)
    {
        Write(file, header, offset);
        Write(file, record, offset + header.Length);
    }

    /// <summary>Makes what was written to <paramref name="file"/> durable (fsync); throws when the device reports an error.</summary>
    void FlushToDisk(SafeFileHandle file);
}

/// <summary>The real file: <see cref="RandomAccess"/>.</summary>
public sealed class RealSegmentFileIo : ISegmentFileIo
{
    public static RealSegmentFileIo Instance { get; } = new();

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> bytes, long offset) => RandomAccess.Write(file, bytes, offset);

    public void Write(SafeFileHandle file, ReadOnlySpan<byte> header, ReadOnlySpan<byte> record, long offset)
        => GatherWrite.Write(file, header, record, offset);

    public void FlushToDisk(SafeFileHandle file) => RandomAccess.FlushToDisk(file);
}
