namespace SiteRecovery.Contracts.Control;

/// <summary>
/// The master target's report that a disk's agent clock went beyond the configured bound (<paramref name="Exceeded"/>)
/// or came back within it. <paramref name="SkewMs"/>: agent − master target, estimated from the newest agent stamp of
/// each commit against the master target's clock (positive: the agent is ahead). Sent only when the state changes.
/// </summary>
public sealed record RecordAgentClockSkew(string DiskId, long SkewMs, long BoundMs, bool Exceeded, long AtUnixMs) : IProtectedDiskCommand;

/// <summary>A disk's agent clock was found beyond (or back within) the bound; the AgentClockSkew alert follows it.</summary>
[Manifest("disk-agent-clock-skew-observed.v1")]
public sealed record AgentClockSkewObserved(string DiskId, long SkewMs, long BoundMs, bool Exceeded, long AtUnixMs) : IProtectedDiskEvent;
