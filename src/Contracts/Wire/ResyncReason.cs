namespace SiteRecovery.Contracts.Wire;

/// <summary>Why a disk is being read end to end and sent again.</summary>
public enum ResyncReason
{
    /// <summary>A new replica: it is all zeroes, so zero blocks need not be sent.</summary>
    InitialReplication,
    /// <summary>The agent restarted without a clean record of what was acknowledged.</summary>
    AgentRestartedWithoutTracking,
    /// <summary>The process server no longer holds the deltas the agent would resend.</summary>
    StreamGap,
    /// <summary>A delta failed its checksum at a hop that no longer holds a good copy.</summary>
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

