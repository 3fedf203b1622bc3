using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Actors.Consistency;

/// <summary>
/// What the coordinator needs from the data path: the master target, which reaches agents back over the
/// connections they opened (master target → process server → agent) and sees markers become durable.
/// </summary>
public interface IGroupBookmarkPath
{
    /// <summary>Disks with a live path to their agent, by machine (agent id).</summary>
    IReadOnlyDictionary<string, IReadOnlyList<string>> DisksByMachine { get; }

    /// <summary>Sends a hold, commit or abort to the agent owning its disks; never throws for a missing path or a silent agent: returns the request's failure reply.</summary>
    Task<ControlMessage> AskAgentAsync(IAgentRequest request, TimeSpan timeout, CancellationToken ct);

    /// <summary>Completes with the marker's sequence once the group marker is durable on the disk; register before committing.</summary>
    Task<long> GroupMarkerDurableAsync(string diskId, string bookmarkId);

    /// <summary>Drops the waits of <see cref="GroupMarkerDurableAsync"/>; a marker arriving later is not a point.</summary>
    void ForgetGroupMarkers(string bookmarkId, IEnumerable<string> diskIds);
}
