namespace SiteRecovery.Capture.Nbd;

/// <summary>Error values of a simple reply (errno numbers fixed by the protocol).</summary>
public enum NbdError : uint
{
    /// <summary>Success.</summary>
    None = 0,
    /// <summary>NBD_EPERM: operation not permitted (write to a read-only export).</summary>
    Perm = 1,
    /// <summary>NBD_EIO: input/output error (the export failed).</summary>
    Io = 5,
    /// <summary>NBD_ENOMEM: out of memory.</summary>
    NoMem = 12,
    /// <summary>NBD_EINVAL: invalid argument.</summary>
    Inval = 22,
    /// <summary>NBD_ENOSPC: write past the end of the export.</summary>
    NoSpc = 28,
    /// <summary>NBD_EOVERFLOW: value too large.</summary>
    Overflow = 75,
    /// <summary>NBD_ENOTSUP: not supported.</summary>
    NotSup = 95,
    /// <summary>NBD_ESHUTDOWN: server is shutting down.</summary>
    Shutdown = 108,
}
