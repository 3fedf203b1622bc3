using SiteRecovery.Contracts.DataPath;

namespace SiteRecovery.Journal.Segments;

/// <summary>Tuning and policy for a <see cref="SegmentLog"/>.</summary>
public sealed record SegmentLogOptions
{
    /// <summary>The active file is sealed once it passes this size. 64 MiB keeps trimming granular without many files.</summary>
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Size of the append buffer; large sequential writes are what make the log fast.</summary>
    public int WriteBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// Frames at least this long skip the append buffer: header and record go to the file in one gathered write from
    /// where they are. Below it a copy costs less than a syscall of its own. A sixty-fourth of the buffer, so a full
    /// buffer still stands for many records (16 KiB of the default 1 MiB).
    /// </summary>
    public int WriteThroughBytes => WriteBufferBytes / 64;

    /// <summary>Size of the read-ahead buffer used by recovery scans and <see cref="SegmentLog.Read"/>.</summary>
    public int ReadBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest record accepted; a frame length above it is treated as corruption. Defaults to the largest delta record.</summary>
    public int MaxRecordBytes { get; init; } = DeltaCodec.FixedHeaderSize + 255 + DeltaCodec.MaxPayload;

    /// <summary>The sequence a brand-new (empty directory) log expects first. Ignored when the directory already holds a log.</summary>
    public long InitialSequence { get; init; } = 1;

    /// <summary>
    /// When true, Open verifies every frame checksum of sealed files too (slow for large journals, but catches bit rot
    /// at startup). When false, sealed files are trusted by name and only verified as they are read.
    /// </summary>
    public bool VerifySealedOnOpen { get; init; } = true;

    /// <summary>
    /// Trimmed files kept for reuse by the next rotations (0: trimmed files are deleted). Writing into a reused file
    /// overwrites blocks that are already allocated and pages already cached, so its fsyncs carry data and no
    /// allocation metadata: what a spool, trimmed as fast as it fills, spends most of its disk time on otherwise.
    /// A log that reuses files hashes its frames with each file's first sequence as seed, so what a reused file held
    /// before is never read as new records. Parked files take disk space: this many segments.
    /// </summary>
    public int RecycleSegments { get; init; }

    /// <summary>The writes and fsyncs of the active file; the real file unless a test injects storage faults.</summary>
    public ISegmentFileIo FileIo { get; init; } = RealSegmentFileIo.Instance;

    /// <summary>Rejects nonsensical settings up front rather than failing in the middle of an append.</summary>
    internal void Validate()
    {
        if (SegmentBytes < 1) throw new ArgumentOutOfRangeException(nameof(SegmentBytes), SegmentBytes, "must be positive");
        if (WriteBufferBytes < 4096) throw new ArgumentOutOfRangeException(nameof(WriteBufferBytes), WriteBufferBytes, "must be at least 4096");
        if (ReadBufferBytes < 4096) throw new ArgumentOutOfRangeException(nameof(ReadBufferBytes), ReadBufferBytes, "must be at least 4096");
        if (MaxRecordBytes < 1) throw new ArgumentOutOfRangeException(nameof(MaxRecordBytes), MaxRecordBytes, "must be positive");
        if (RecycleSegments < 0) throw new ArgumentOutOfRangeException(nameof(RecycleSegments), RecycleSegments, "must be 0 (off) or more");
        if (InitialSequence < 1) throw new ArgumentOutOfRangeException(nameof(InitialSequence), InitialSequence, "sequences start at 1 or above");
    }
}
