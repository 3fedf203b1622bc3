namespace SiteRecovery.Capture.Nbd;

/// <summary>Tunables of an <see cref="NbdServer"/>.</summary>
public sealed class NbdServerOptions
{
    /// <summary>Default for <see cref="MaxRequest"/>: 32 MiB.</summary>
    public const int DefaultMaxRequest = 32 * 1024 * 1024;

    /// <summary>
    /// Largest READ/WRITE payload accepted (advertised as the maximum block size). Larger reads get NBD_EINVAL;
    /// larger writes get NBD_EINVAL, their payload read and dropped in small chunks (never buffered) when it is at
    /// most 32 MiB, else the connection is closed.
    /// Must be between 512 and 1 GiB.
    /// </summary>
    public int MaxRequest { get; init; } = DefaultMaxRequest;

    /// <summary>
    /// Largest option data buffered during the handshake. Longer data is skipped and the option answered with an
    /// error (NBD_REP_ERR_TOO_BIG for INFO/GO); NBD_OPT_EXPORT_NAME, which cannot be answered, and any option
    /// with more than 32 MiB of data close the connection.
    /// </summary>
    public int MaxOptionLength { get; init; } = 64 * 1024;

    /// <summary>
    /// Export served when a client asks for the empty name (NBD_OPT_GO / NBD_OPT_EXPORT_NAME with "").
    /// Null means the empty name is unknown.
    /// </summary>
    public string? DefaultExportName { get; init; }

    /// <summary>Time a client has to finish the handshake; <see cref="Timeout.InfiniteTimeSpan"/> disables it.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long stopping the server lets connected clients wind down: the request running finishes, new ones get
    /// NBD_ESHUTDOWN (options NBD_REP_ERR_SHUTDOWN), and a client that sends NBD_CMD_DISC is let go at once. After it,
    /// the remaining connections are closed. Zero closes them at once.
    /// </summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Null (the default): no TLS, and NBD_OPT_STARTTLS is answered NBD_REP_ERR_UNSUP. Set: TLS is required of every
    /// client, with a certificate its <see cref="NbdTls.ClientAuthorities"/> issued (the protocol's FORCEDTLS mode; see
    /// <see cref="NbdTls"/>). The TLS handshake runs within <see cref="HandshakeTimeout"/>.
    /// </summary>
    public NbdTls? Tls { get; init; }

    /// <summary>Receives diagnostic messages (protocol errors, export failures). Must not throw; exceptions are swallowed.</summary>
    public Action<string>? Log { get; init; }

    internal void Validate()
    {
        if (MaxRequest < 512 || MaxRequest > 1 << 30)
            throw new ArgumentOutOfRangeException(nameof(MaxRequest), MaxRequest, "MaxRequest must be between 512 and 1 GiB.");
        if (ShutdownGrace < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ShutdownGrace), ShutdownGrace, "ShutdownGrace cannot be negative.");
        if (MaxOptionLength < 4096 + 8)
            throw new ArgumentOutOfRangeException(nameof(MaxOptionLength), MaxOptionLength, "MaxOptionLength must allow a 4096-byte name.");
    }
}
