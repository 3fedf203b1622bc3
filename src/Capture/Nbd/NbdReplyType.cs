namespace SiteRecovery.Capture.Nbd;

/// <summary>Option reply types (NBD_REP_*); values with the high bit set are errors.</summary>
public enum NbdReplyType : uint
{
    /// <summary>NBD_REP_ACK: option done.</summary>
    Ack = 1,
    /// <summary>NBD_REP_SERVER: one export name (reply to NBD_OPT_LIST).</summary>
    Server = 2,
    /// <summary>NBD_REP_INFO: one information block (reply to NBD_OPT_INFO / NBD_OPT_GO).</summary>
    Info = 3,
    /// <summary>NBD_REP_ERR_UNSUP: option unknown or unsupported.</summary>
    ErrUnsupported = 0x80000001,
    /// <summary>NBD_REP_ERR_POLICY: forbidden by server policy.</summary>
    ErrPolicy = 0x80000002,
    /// <summary>NBD_REP_ERR_INVALID: syntactically or semantically invalid option.</summary>
    ErrInvalid = 0x80000003,
    /// <summary>NBD_REP_ERR_PLATFORM: not supported on this platform.</summary>
    ErrPlatform = 0x80000004,
    /// <summary>NBD_REP_ERR_TLS_REQD: TLS required.</summary>
    ErrTlsRequired = 0x80000005,
    /// <summary>NBD_REP_ERR_UNKNOWN: the requested export does not exist.</summary>
    ErrUnknown = 0x80000006,
    /// <summary>NBD_REP_ERR_SHUTDOWN: server is shutting down.</summary>
    ErrShutdown = 0x80000007,
    /// <summary>NBD_REP_ERR_BLOCK_SIZE_REQD: client must request block sizes.</summary>
    ErrBlockSizeRequired = 0x80000008,
    /// <summary>NBD_REP_ERR_TOO_BIG: request or reply too large.</summary>
    ErrTooBig = 0x80000009,
}
