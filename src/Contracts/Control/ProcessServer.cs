namespace SiteRecovery.Contracts.Control;

/// <summary>Any message for a ProcessServer entity (identity: server id).</summary>
public interface IProcessServerMessage : IEntityMessage
{
    string ServerId { get; }
    string IEntityMessage.EntityId => ServerId;
}

public interface IProcessServerCommand : IProcessServerMessage;

// ---- commands ----
public sealed record RegisterProcessServer(string ServerId, string CacheDirectory, long CacheBytes, int ChurnCapacityMBps) : IProcessServerCommand;

/// <summary>Assigning the same disk twice is an idempotent no-op.</summary>
public sealed record AssignDiskToProcessServer(string ServerId, string DiskId) : IProcessServerCommand;

public sealed record ReportCacheUsage(string ServerId, long UsedBytes) : IProcessServerCommand;

// ---- query ----
public sealed record GetProcessServer(string ServerId) : IProcessServerMessage;

public sealed record ProcessServerView(
    string ServerId,
    bool Registered,
    string? CacheDirectory,
    long CacheBytes,
    int ChurnCapacityMBps,
    IReadOnlyList<string> AssignedDisks,
    long CacheUsedBytes,
    long CacheFreeBytes);

// ---- events ----
public interface IProcessServerEvent : IControlEvent
{
    string ServerId { get; }
}

[Manifest("process-server-registered.v1")]
public sealed record ProcessServerRegistered(string ServerId, string CacheDirectory, long CacheBytes, int ChurnCapacityMBps) : IProcessServerEvent;

[Manifest("process-server-disk-assigned.v1")]
public sealed record DiskAssignedToProcessServer(string ServerId, string DiskId) : IProcessServerEvent;

[Manifest("process-server-cache-usage-reported.v1")]
public sealed record CacheUsageReported(string ServerId, long UsedBytes) : IProcessServerEvent;
