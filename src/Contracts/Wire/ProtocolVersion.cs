namespace SiteRecovery.Contracts.Wire;

/// <summary>
/// The data path's protocol version, said in every <see cref="Hello"/> and answered in every <see cref="Resume"/>, so the
/// three components can be upgraded one at a time (the configuration server first, then process servers, then master
/// targets): each side speaks every version from <see cref="Oldest"/> to <see cref="Current"/>, and a peer outside that
/// range is refused with the reason instead of being misread.
/// </summary>
/// <remarks>
/// 1: the protocol before versions were said (a hello or resume without a version is read as 1).
/// 2: hello and resume carry the version; nothing else changed, so 1 and 2 interoperate.
/// </remarks>
public static class ProtocolVersion
{
    public const int Current = 2;
    public const int Oldest = 1;

    /// <summary>Why a peer speaking <paramref name="version"/> cannot be served, or null when it can.</summary>
    public static string? Problem(int version, string peer) => version switch
    {
        < Oldest => $"{peer} speaks data-path protocol version {version}, which does not exist (this side speaks {Oldest}..{Current})",
        > Current => $"{peer} speaks data-path protocol version {version}, newer than this side's {Oldest}..{Current}: upgrade this side first",
        _ => null,
    };
}
