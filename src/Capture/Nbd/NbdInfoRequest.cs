namespace SiteRecovery.Capture.Nbd;

/// <summary>The data of NBD_OPT_INFO / NBD_OPT_GO: an export name and the information types asked for.</summary>
/// <param name="Name">Export name (empty means the default export).</param>
/// <param name="InfoTypes">Requested NBD_INFO_* types, in wire order (may contain unknown values).</param>
public sealed record NbdInfoRequest(string Name, IReadOnlyList<NbdInfoType> InfoTypes);
