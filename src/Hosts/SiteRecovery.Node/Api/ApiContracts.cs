namespace SiteRecovery.Node.Api;

/// <summary>POST /api/bookmarks: a crash-consistent bookmark across the listed disks of one agent.</summary>
public sealed record BookmarkBody(string? Name, string[]? Disks, int? TimeoutSeconds);
public sealed record BookmarkResponse(string BookmarkId, IReadOnlyDictionary<string, long> Sequences, long TimeUnixMs);

/// <summary>POST /api/recover: write the image of a disk at a bookmark (or a sequence) to a file on the master target's machine.</summary>
public sealed record RecoverBody(string? Disk, string? Bookmark, long? Sequence, string? Output);
public sealed record RecoverResponse(string Disk, string? Bookmark, long Sequence, string Output, long Bytes, long Deltas, string Sha256, double Seconds);

public sealed record ApiError(string Error);

public sealed record DiskStatus(string Disk, long SizeBytes, long AppliedThrough, string? State, long? RpoSeconds, int RecoveryPoints, string? LastBookmark);
public sealed record ProcessServerDiskStatus(string Disk, long Spooled, long Durable, long TargetAcked, long CacheBytes);
public sealed record NodeStatus(string NodeId, string Roles, string Journal, IReadOnlyList<DiskStatus> Disks, IReadOnlyList<ProcessServerDiskStatus> Cache);
