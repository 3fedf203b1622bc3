namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// What a forwarder resends after it (re)connected, pure so it is tested on its own: the master target's resume says
/// how far the disk is durable there, and the forwarder sends from the sequence after it, out of the spool (which is
/// trimmed only through what the master target acknowledged, so it normally still holds that sequence).
/// </summary>
public static class ForwardResume
{
    /// <summary>
    /// Null when the spool can serve the master target from <paramref name="targetHolds"/> + 1 (it holds every sequence
    /// from there to <paramref name="spoolLast"/>, or holds nothing past the target yet); otherwise why not, naming the
    /// disk, the sequence the target needs and the first the spool holds. A spool that cannot serve the target must not
    /// send a later record: the target would take it as a gap.
    /// </summary>
    public static string? Problem(string diskId, long targetHolds, long spoolFirst, long spoolLast) =>
        spoolLast > targetHolds && spoolFirst > targetHolds + 1
            ? $"disk {diskId}: the master target needs #{targetHolds + 1} but the cache starts at #{spoolFirst}"
            : null;
}
