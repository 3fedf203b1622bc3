namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// An operator's resync: the agent that owns <see cref="DiskIds"/> compares each whole disk with the replica (block
/// hashes) and resends what differs, with reason <see cref="ResyncReason.OperatorRequest"/>; <see cref="Why"/> is the
/// operator's words, for the logs. Routed like a group hold (master target → process server → agent).
/// </summary>
public sealed record ResyncRequest(string RequestId, IReadOnlyList<string> DiskIds, string Why) : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) => new ResyncStarted(RequestId, new Dictionary<string, long>(), error);
}

/// <summary>The resync began on every disk, after <see cref="After"/> (each disk's last sequence then); or <see cref="Error"/> says why not.</summary>
public sealed record ResyncStarted(string RequestId, IReadOnlyDictionary<string, long> After, string? Error) : ControlMessage, IAgentReply;
