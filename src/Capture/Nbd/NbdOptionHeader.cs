namespace SiteRecovery.Capture.Nbd;

/// <summary>The fixed part of a client option (IHAVEOPT, option code, data length); 16 bytes on the wire.</summary>
/// <param name="Option">Option code (may be unknown).</param>
/// <param name="Length">Length of the option data that follows.</param>
public readonly record struct NbdOptionHeader(NbdOption Option, uint Length)
{
    /// <summary>Size of an option header on the wire.</summary>
    public const int HeaderLength = 16;
}
