namespace SiteRecovery.Node.Api;

/// <summary>POST /api/bookmarks: a crash-consistent bookmark across the listed disks of one agent.</summary>
public sealed record BookmarkBody(string? Name, string[]? Disks, int? TimeoutSeconds);
public sealed record BookmarkResponse(string BookmarkId, IReadOnlyDictionary<string, long> Sequences, long TimeUnixMs);


/// <summary><paramref name="Retryable"/>: the same request can succeed later (a resync to finish, a hold to end); absent otherwise.</summary>
public sealed record ApiError(string Error, bool? Retryable = null);

public sealed record DiskStatus(string Disk, long SizeBytes, long AppliedThrough, string? State, long? RpoSeconds, int RecoveryPoints, string? LastBookmark);
public sealed record ProcessServerDiskStatus(string Disk, long Spooled, long Durable, long TargetAcked, long CacheBytes);
public sealed record NodeStatus(string NodeId, string Roles, string Journal, IReadOnlyList<DiskStatus> Disks, IReadOnlyList<ProcessServerDiskStatus> Cache);
