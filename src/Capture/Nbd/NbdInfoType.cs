namespace SiteRecovery.Capture.Nbd;

/// <summary>Information block types of NBD_REP_INFO (NBD_INFO_*).</summary>
public enum NbdInfoType : ushort
{
    /// <summary>NBD_INFO_EXPORT: size and transmission flags (always sent).</summary>
    Export = 0,
    /// <summary>NBD_INFO_NAME: canonical export name.</summary>
    Name = 1,
    /// <summary>NBD_INFO_DESCRIPTION: human readable description.</summary>
    Description = 2,
    /// <summary>NBD_INFO_BLOCK_SIZE: minimum, preferred and maximum block sizes.</summary>
    BlockSize = 3,
}
