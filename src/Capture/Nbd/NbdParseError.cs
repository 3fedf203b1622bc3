namespace SiteRecovery.Capture.Nbd;

/// <summary>Why <see cref="NbdParser"/> rejected some bytes.</summary>
public enum NbdParseError
{
    /// <summary>Parsed successfully.</summary>
    None = 0,
    /// <summary>Fewer bytes than the structure needs.</summary>
    Truncated,
    /// <summary>More bytes than the structure holds.</summary>
    TrailingBytes,
    /// <summary>Request header does not start with the request magic.</summary>
    BadRequestMagic,
    /// <summary>Option header does not start with IHAVEOPT.</summary>
    BadOptionMagic,
    /// <summary>Option data length exceeds the server's limit.</summary>
    OptionTooLong,
    /// <summary>Client flags contain bits this server does not know.</summary>
    UnknownClientFlags,
    /// <summary>Declared name length runs past the end of the option data.</summary>
    NameLengthOverrun,
    /// <summary>Export name is longer than 4096 bytes.</summary>
    NameTooLong,
    /// <summary>Export name is not valid UTF-8.</summary>
    NameNotUtf8,
    /// <summary>Number of information requests does not match the remaining option data.</summary>
    InfoCountMismatch,
}
