using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Contracts.Control;

/// <summary>
/// The process server refused a writer of a disk (another key, a stale epoch, a bad signature). The fingerprints are
/// public (hex SHA-256 of the writers' public keys); nothing secret is in the text. Raises the DiskWriterRefused alert.
/// </summary>
public sealed record RecordWriterRefused(string DiskId, WriterRefusal Reason, string? BoundFingerprint, string OfferedFingerprint, string Detail, long AtUnixMs) : IProtectedDiskCommand;

/// <summary>
/// An operator acted on a disk's writer binding: <paramref name="Released"/> (a reinstalled machine's new agent may bind)
/// or kept (the refused writer was an impostor or a mistake, now dealt with). Clears the DiskWriterRefused alert.
/// </summary>
public sealed record ResolveWriterRefusal(string DiskId, bool Released, long AtUnixMs) : IProtectedDiskCommand;

/// <summary>A writer of the disk was refused by its process server; the DiskWriterRefused alert follows it.</summary>
[Manifest("disk-writer-refused.v1")]
public sealed record WriterRefusedObserved(string DiskId, WriterRefusal Reason, string? BoundFingerprint, string OfferedFingerprint, string Detail, long AtUnixMs) : IProtectedDiskEvent;

/// <summary>An operator released or kept the disk's writer binding; the DiskWriterRefused alert clears.</summary>
[Manifest("disk-writer-refusal-resolved.v1")]
public sealed record WriterRefusalResolved(string DiskId, bool Released, long AtUnixMs) : IProtectedDiskEvent;
