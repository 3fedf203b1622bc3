namespace SiteRecovery.Capture.Nbd;

/// <summary>Handshake flags: the server's 16-bit flags and the client's 32-bit reply use the same low bits.</summary>
[Flags]
public enum NbdHandshakeFlags : uint
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>NBD_FLAG_FIXED_NEWSTYLE / NBD_FLAG_C_FIXED_NEWSTYLE.</summary>
    FixedNewstyle = 1 << 0,
    /// <summary>NBD_FLAG_NO_ZEROES / NBD_FLAG_C_NO_ZEROES: omit the 124 zero bytes after NBD_OPT_EXPORT_NAME.</summary>
    NoZeroes = 1 << 1,
}
