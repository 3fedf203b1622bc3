namespace SiteRecovery.Capture.Nbd;

/// <summary>Transmission command types (NBD_CMD_*).</summary>
public enum NbdCommand : ushort
{
    /// <summary>NBD_CMD_READ.</summary>
    Read = 0,
    /// <summary>NBD_CMD_WRITE (followed by a payload of the request length).</summary>
    Write = 1,
    /// <summary>NBD_CMD_DISC: disconnect after outstanding requests.</summary>
    Disconnect = 2,
    /// <summary>NBD_CMD_FLUSH.</summary>
    Flush = 3,
    /// <summary>NBD_CMD_TRIM.</summary>
    Trim = 4,
    /// <summary>NBD_CMD_CACHE (not advertised, answered EINVAL).</summary>
    Cache = 5,
    /// <summary>NBD_CMD_WRITE_ZEROES.</summary>
    WriteZeroes = 6,
    /// <summary>NBD_CMD_BLOCK_STATUS (not advertised, answered EINVAL).</summary>
    BlockStatus = 7,
}
