namespace SiteRecovery.Contracts.Wire;

/// <summary>Why a disk is being read end to end and sent again.</summary>
/// <remarks>
/// One enum from the agent to the journal: it travels by number in a <see cref="ResyncNotice"/> (so a member's value
/// never changes and new members go at the end), by name in resync markers, the master target's resync ranges and the
/// control plane's events and snapshots (<c>ResyncRequired</c>, the disk's state). Control-plane events written before
/// there was one enum say <c>CacheLost</c> for <see cref="StreamGap"/>; the journal's serializer reads it as such.
/// </remarks>
public enum ResyncReason
{
    /// <summary>A new replica: it is all zeroes, so zero blocks need not be sent.</summary>
    InitialReplication,
    /// <summary>The agent restarted without a clean record of what was acknowledged.</summary>
    AgentRestartedWithoutTracking,
    /// <summary>The process server no longer holds the deltas the agent would resend.</summary>
    StreamGap,
    /// <summary>
    /// A delta failed its checksum at a hop that no longer holds a good copy. Nothing produces it today (a damaged delta
    /// is asked again from the hop before, which holds it until acknowledged); it stays because members travel by
    /// number and the ones after it must keep theirs.
    /// </summary>
    ChecksumMismatch,
    /// <summary>The agent's buffer was full: writes went to its dirty-region map and are sent again from the source.</summary>
    BufferOverflow,
    /// <summary>An operator asked for it.</summary>
    OperatorRequest,
    /// <summary>The agent crashed; only the extents its write-ahead activity log held are compared and resent.</summary>
    AgentCrashActivityLog,
    /// <summary>
    /// The disk was written outside this agent (a reprotect after failover, a failback), so neither the agent's state nor
    /// its activity log can say what differs: an operator started it with <c>--compare-with-replica</c>, and the whole disk
    /// is compared with the replica by block hash (even when nothing is durable yet: an adopted replica may be pre-filled)
    /// and what differs is resent.
    /// </summary>
    Reprotect,
}

