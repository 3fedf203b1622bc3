namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// Says "still here" on a session that has nothing else to say, so a peer's idle timeout does not cut a live but quiet
/// connection (no writes on the agent's disks, no holds on a control link). Sent only to a peer whose resume asked for
/// it (<see cref="Resume.KeepaliveMs"/>, from <see cref="ProtocolVersion.Keepalives"/> on); every receiver ignores it.
/// </summary>
public sealed record Keepalive : ControlMessage
{
    /// <summary>The one value: a keepalive carries nothing.</summary>
    public static Keepalive Instance { get; } = new();
}
