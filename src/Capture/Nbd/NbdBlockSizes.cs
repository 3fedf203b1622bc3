namespace SiteRecovery.Capture.Nbd;

/// <summary>Block size constraints advertised with NBD_INFO_BLOCK_SIZE.</summary>
/// <param name="Minimum">Minimum block size (1: any alignment works).</param>
/// <param name="Preferred">Preferred block size (a power of two).</param>
/// <param name="Maximum">Maximum payload size.</param>
public readonly record struct NbdBlockSizes(uint Minimum, uint Preferred, uint Maximum)
{
    /// <summary>
    /// 2^25: the maximum payload a client may assume when sizes were not negotiated, and the size the protocol
    /// says should never be taken for a denial of service even above an advertised maximum.
    /// </summary>
    public const uint PortableMaximum = 1u << 25;

    /// <summary>Block sizes for a server whose largest request is <paramref name="maxRequest"/>.</summary>
    public static NbdBlockSizes For(int maxRequest)
    {
        var preferred = 4096u;
        while (preferred > (uint)maxRequest) preferred >>= 1;
        return new NbdBlockSizes(1, preferred, (uint)maxRequest);
    }
}
