namespace SiteRecovery.Capture.Nbd;

/// <summary>Option codes a client may send during the handshake (NBD_OPT_*).</summary>
public enum NbdOption : uint
{
    /// <summary>NBD_OPT_EXPORT_NAME: choose an export and enter transmission (no error reply possible).</summary>
    ExportName = 1,
    /// <summary>NBD_OPT_ABORT: end the session.</summary>
    Abort = 2,
    /// <summary>NBD_OPT_LIST: list export names.</summary>
    List = 3,
    /// <summary>NBD_OPT_STARTTLS: upgrade the session to TLS (only when the server has <see cref="NbdServerOptions.Tls"/>).</summary>
    StartTls = 5,
    /// <summary>NBD_OPT_INFO: describe an export without selecting it.</summary>
    Info = 6,
    /// <summary>NBD_OPT_GO: describe an export and enter transmission.</summary>
    Go = 7,
    /// <summary>NBD_OPT_STRUCTURED_REPLY (answered NBD_REP_ERR_UNSUP).</summary>
    StructuredReply = 8,
    /// <summary>NBD_OPT_LIST_META_CONTEXT (not supported).</summary>
    ListMetaContext = 9,
    /// <summary>NBD_OPT_SET_META_CONTEXT (not supported).</summary>
    SetMetaContext = 10,
    /// <summary>NBD_OPT_EXTENDED_HEADERS (not supported).</summary>
    ExtendedHeaders = 11,
}
