namespace SiteRecovery.Capture.Nbd;

/// <summary>Per-request command flags (NBD_CMD_FLAG_*).</summary>
[Flags]
public enum NbdCommandFlags : ushort
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>NBD_CMD_FLAG_FUA: force unit access.</summary>
    Fua = 1 << 0,
    /// <summary>NBD_CMD_FLAG_NO_HOLE: write zeroes without punching a hole (accepted on WRITE_ZEROES only, always honoured).</summary>
    NoHole = 1 << 1,
    /// <summary>NBD_CMD_FLAG_DF (structured replies only; rejected).</summary>
    DontFragment = 1 << 2,
    /// <summary>NBD_CMD_FLAG_REQ_ONE (block status only; rejected).</summary>
    ReqOne = 1 << 3,
    /// <summary>NBD_CMD_FLAG_FAST_ZERO (not advertised; rejected).</summary>
    FastZero = 1 << 4,
    /// <summary>NBD_CMD_FLAG_PAYLOAD_LEN (extended headers only; rejected).</summary>
    PayloadLength = 1 << 5,
}
