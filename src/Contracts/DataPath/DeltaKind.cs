namespace SiteRecovery.Contracts.DataPath;

/// <summary>What one entry of a disk's ordered replication stream does to the replica.</summary>
public enum DeltaKind : byte
{
    /// <summary>Bytes written at an offset; the payload holds them.</summary>
    Write = 1,
    /// <summary>A range that reads as zeroes (NBD WRITE_ZEROES, or a zero block found by a resync); no payload.</summary>
    Zero = 2,
    /// <summary>A range the source discarded (NBD TRIM); the replica zeroes it so both read the same.</summary>
    Trim = 3,
    /// <summary>A recovery-point marker; the payload is the bookmark id (UTF-8). It covers every entry before it.</summary>
    Bookmark = 4,
}
