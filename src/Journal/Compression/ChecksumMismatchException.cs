namespace SiteRecovery.Journal.Compression;

/// <summary>
/// A stored delta whose content no longer matches its checksum. Carries the disk and sequence so an
/// operator can find the damaged record, and <see cref="What"/> says which check failed.
/// </summary>
public sealed class ChecksumMismatchException(string diskId, long sequence, string what)
    : Exception($"delta {diskId}#{sequence}: {what}")
{
    public string DiskId { get; } = diskId;
    public long Sequence { get; } = sequence;
    public string What { get; } = what;
}
