namespace SiteRecovery.Capture.Nbd;

/// <summary>Per-export transmission flags (NBD_FLAG_*), 16 bits on the wire.</summary>
[Flags]
public enum NbdTransmissionFlags : ushort
{
    /// <summary>No flags.</summary>
    None = 0,
    /// <summary>NBD_FLAG_HAS_FLAGS: always set.</summary>
    HasFlags = 1 << 0,
    /// <summary>NBD_FLAG_READ_ONLY.</summary>
    ReadOnly = 1 << 1,
    /// <summary>NBD_FLAG_SEND_FLUSH.</summary>
    SendFlush = 1 << 2,
    /// <summary>NBD_FLAG_SEND_FUA.</summary>
    SendFua = 1 << 3,
    /// <summary>NBD_FLAG_ROTATIONAL.</summary>
    Rotational = 1 << 4,
    /// <summary>NBD_FLAG_SEND_TRIM.</summary>
    SendTrim = 1 << 5,
    /// <summary>NBD_FLAG_SEND_WRITE_ZEROES.</summary>
    SendWriteZeroes = 1 << 6,
    /// <summary>NBD_FLAG_SEND_DF.</summary>
    SendDf = 1 << 7,
    /// <summary>NBD_FLAG_CAN_MULTI_CONN (never set by this server).</summary>
    CanMultiConn = 1 << 8,
}
