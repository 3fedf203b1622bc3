namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Thrown by an export whose writes were switched off while the connection was open (an export may turn read-only at any
/// time; see <see cref="INbdExport.ReadOnly"/>). The connection answers the request with NBD_EPERM — the protocol's error
/// set has no EROFS — rather than NBD_EIO, and stays open: the client can still read.
/// </summary>
public sealed class ExportReadOnlyException(string exportName, string why)
    : InvalidOperationException($"export {exportName} is read-only: {why}");
