namespace SiteRecovery.Capture.Nbd;

/// <summary>A transmission request header exactly as it appears on the wire (28 bytes).</summary>
/// <param name="Flags">Command flags.</param>
/// <param name="Command">Command type (may be a value this server does not know).</param>
/// <param name="Cookie">Opaque handle echoed in the reply.</param>
/// <param name="Offset">Byte offset (unsigned 64-bit on the wire).</param>
/// <param name="Length">Byte count (unsigned 32-bit on the wire).</param>
public readonly record struct NbdRequest(NbdCommandFlags Flags, NbdCommand Command, ulong Cookie, ulong Offset, uint Length)
{
    /// <summary>Size of a request header on the wire.</summary>
    public const int HeaderLength = 28;
}
