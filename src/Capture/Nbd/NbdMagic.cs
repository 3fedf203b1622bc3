namespace SiteRecovery.Capture.Nbd;

/// <summary>Magic numbers of the NBD wire protocol (all big-endian on the wire).</summary>
public static class NbdMagic
{
    /// <summary>"NBDMAGIC": first 8 bytes the server sends.</summary>
    public const ulong Init = 0x4e42444d41474943UL;

    /// <summary>"IHAVEOPT": newstyle greeting and the prefix of every client option.</summary>
    public const ulong Option = 0x49484156454F5054UL;

    /// <summary>Prefix of every option reply sent by the server.</summary>
    public const ulong OptionReply = 0x0003e889045565a9UL;

    /// <summary>Prefix of every transmission request.</summary>
    public const uint Request = 0x25609513U;

    /// <summary>Prefix of every simple reply.</summary>
    public const uint SimpleReply = 0x67446698U;
}
