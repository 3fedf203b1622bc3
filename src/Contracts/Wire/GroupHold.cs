namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// A request that travels from the master target through the process server to the one agent that owns
/// <see cref="DiskIds"/>, over the connection the agent opened. The process server routes it by disk and
/// answers with <see cref="Failed"/> itself when the agent is not connected or does not answer.
/// </summary>
public interface IAgentRequest
{
    string RequestId { get; }
    IReadOnlyList<string> DiskIds { get; }

    /// <summary>The reply to send back when the request never reached the agent (or its answer never came).</summary>
    ControlMessage Failed(string error);
}

/// <summary>An agent's answer to an <see cref="IAgentRequest"/>, matched by <see cref="RequestId"/>.</summary>
public interface IAgentReply
{
    string RequestId { get; }
}

/// <summary>
/// Phase 1 of a group bookmark. The agent (after running its application freeze when <see cref="AppConsistent"/>)
/// takes the write locks of <see cref="DiskIds"/> — new writes wait and are not replied to the NBD client —
/// and answers <see cref="Held"/> with each disk's last sequence. The hold ends with <see cref="CommitHold"/>,
/// <see cref="AbortHold"/>, the loss of the agent's connection, or after <see cref="LeaseMs"/> on its own:
/// a hold never outlives its lease, whatever happens to the coordinator.
/// </summary>
public sealed record HoldRequest(string RequestId, string HoldId, string BookmarkId, IReadOnlyList<string> DiskIds, bool AppConsistent, int LeaseMs)
    : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) => new Held(RequestId, HoldId, new Dictionary<string, long>(), error, null);
}

/// <summary>
/// The disks are held: <see cref="Sequences"/> is each disk's last sequence (every write replied to so far),
/// or <see cref="Error"/> says why nothing is held. <see cref="FreezeFailure"/> is set when an application
/// freeze was asked for and did not succeed (or no freezer is configured): the disks are still held, and the
/// point can only be crash-consistent. <see cref="FreezeFailureKind"/> is the same outcome as a value (null from an
/// agent that predates it, or when the freeze succeeded). <see cref="Retryable"/>: the refusal in <see cref="Error"/> is
/// temporary (<see cref="RetryableRefusal"/>).
/// </summary>
public sealed record Held(string RequestId, string HoldId, IReadOnlyDictionary<string, long> Sequences, string? Error, string? FreezeFailure,
    Control.AppConsistencyFailure? FreezeFailureKind = null, bool Retryable = false)
    : ControlMessage, IAgentReply;

/// <summary>Phase 2: insert the marker <see cref="GroupMarker.For"/>(BookmarkId) right after the held sequences, then release.</summary>
public sealed record CommitHold(string RequestId, string HoldId, string BookmarkId, IReadOnlyList<string> DiskIds)
    : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) => new HoldEnded(RequestId, HoldId, false, new Dictionary<string, long>(), 0, error);
}

/// <summary>Release a hold without a marker (another agent refused, timed out or is gone). Unknown or ended holds are fine.</summary>
public sealed record AbortHold(string RequestId, string HoldId, string Reason, IReadOnlyList<string> DiskIds)
    : ControlMessage, IAgentRequest
{
    public ControlMessage Failed(string error) => new HoldEnded(RequestId, HoldId, false, new Dictionary<string, long>(), 0, error);
}

/// <summary>
/// A hold ended. <see cref="Marked"/>: the markers are in the streams at <see cref="Sequences"/> (each one past
/// the held sequence). <see cref="HeldMs"/>: how long the agent's writes waited (lock taken to released).
/// <see cref="Error"/>: the commit could not be honoured (the hold had expired, was aborted, or is unknown).
/// </summary>
public sealed record HoldEnded(string RequestId, string HoldId, bool Marked, IReadOnlyDictionary<string, long> Sequences, double HeldMs, string? Error)
    : ControlMessage, IAgentReply;

/// <summary>
/// The marker text of a group bookmark. The master target never records such a marker as a recovery point
/// by itself: only the coordinator does, once every disk of the group has its marker durable, so an aborted
/// group bookmark leaves no point on any disk even when some agents had already inserted their marker.
/// </summary>
public static class GroupMarker
{
    public const string Prefix = "group:";

    public static string For(string bookmarkId) => Prefix + bookmarkId;

    public static bool TryParse(string markerText, out string bookmarkId)
    {
        bookmarkId = markerText.StartsWith(Prefix, StringComparison.Ordinal) ? markerText[Prefix.Length..] : "";
        return bookmarkId.Length > 0;
    }
}
