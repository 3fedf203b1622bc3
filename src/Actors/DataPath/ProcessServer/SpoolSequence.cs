namespace SiteRecovery.Actors.DataPath;

/// <summary>What one validated delta record off an agent's socket does to its disk's spool at the process server.</summary>
public enum SpoolStep
{
    /// <summary>The next sequence, intact: appended to the spool (acknowledged once the spool's fsync returned).</summary>
    Append,
    /// <summary>At or below what the spool holds: a resend overlap after a reconnection, dropped without a word.</summary>
    SkipResend,
    /// <summary>
    /// The next sequence damaged (always, even with a request out: that copy was the answer to it), or a gap with no
    /// request out: the agent is asked to resend from the spool's next sequence.
    /// </summary>
    Nak,
    /// <summary>A record beyond the next sequence while a request to resend is out: the agent's rewind is on its way, so it is not asked again.</summary>
    AwaitResend,
}

/// <summary>
/// The per-disk order rule of a process server's spool, pure so it is tested on its own: the spool takes its records
/// strictly in sequence, one after the last it holds, and only intact ones, so it never holds a gap, a record twice or a
/// damaged record; one request to resend is enough for a gap until the next record is taken, since the agent rewinds and
/// sends everything after it again, in order.
/// <para>The next sequence arriving damaged is asked for again every time, request out or not: after a Nak it is the
/// copy the rewind sent, and the agent rewinds once per Nak, so without a new request the disk would wait for a copy
/// that never comes, until the connection is renewed. This never multiplies: within one connection the agent sends the
/// next sequence once, then once per Nak (a rewind requeues from the asked sequence, it does not add to what is
/// queued), so each damaged copy costs one Nak and one round trip, and damage on the way ends with the first intact copy.</para>
/// </summary>
public static class SpoolSequence
{
    /// <param name="lastSpooled">The last sequence the spool holds.</param>
    /// <param name="sequence">The record's sequence.</param>
    /// <param name="intact">Whether the record passed its checksum (looked at only for the next sequence).</param>
    /// <param name="resendAsked">Whether a request to resend went out since the spool last took a record.</param>
    public static SpoolStep Decide(long lastSpooled, long sequence, bool intact, bool resendAsked) =>
        sequence <= lastSpooled ? SpoolStep.SkipResend
        : sequence == lastSpooled + 1 ? (intact ? SpoolStep.Append : SpoolStep.Nak)
        : resendAsked ? SpoolStep.AwaitResend
        : SpoolStep.Nak;

    /// <summary>Whether a request to resend is out after <paramref name="step"/>: a taken record ends it, a Nak starts it.</summary>
    public static bool ResendAskedAfter(SpoolStep step, bool resendAsked) => step switch
    {
        SpoolStep.Append => false,
        SpoolStep.Nak => true,
        _ => resendAsked,
    };
}
