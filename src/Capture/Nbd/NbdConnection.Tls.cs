using System.Net.Security;
using System.Security.Authentication;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// NBD_OPT_STARTTLS and the FORCEDTLS rules (NBD protocol, "TLS support") when <see cref="NbdServerOptions.Tls"/> is set:
/// <list type="bullet">
/// <item>before TLS, every option other than NBD_OPT_STARTTLS and NBD_OPT_ABORT is answered NBD_REP_ERR_TLS_REQD, and
/// NBD_OPT_EXPORT_NAME, which cannot be answered with an error, ends the session;</item>
/// <item>NBD_OPT_STARTTLS with data is NBD_REP_ERR_INVALID; without, it is acknowledged and from the byte after the
/// acknowledgement everything is TLS: a failed TLS handshake ends the session (there is no way back to plain text);</item>
/// <item>once TLS runs, NBD_REP_ERR_TLS_REQD is never sent, and a second NBD_OPT_STARTTLS is NBD_REP_ERR_INVALID;</item>
/// <item>a client that did not answer with NBD_FLAG_C_FIXED_NEWSTYLE cannot send options, so cannot start TLS: it is
/// let go at once.</item>
/// </list>
/// Nothing negotiated before TLS survives it, because this server keeps no option state before an export is chosen.
/// </summary>
internal sealed partial class NbdConnection
{
    private SslStream? _tls;

    /// <summary>TLS is required and has not started yet: the options that may run now are STARTTLS and ABORT.</summary>
    private bool TlsPending => _options.Tls is not null && _tls is null;

    private async Task<TlsStep> StartTlsAsync(uint dataLength, CancellationToken ct)
    {
        if (_options.Tls is not { } tls)
        {
            await ErrorAsync(NbdOption.StartTls, NbdReplyType.ErrUnsupported, "this server does not offer TLS", ct).ConfigureAwait(false);
            return TlsStep.Answered;
        }
        if (_tls is not null)
        {
            await ErrorAsync(NbdOption.StartTls, NbdReplyType.ErrInvalid, "TLS is already running", ct).ConfigureAwait(false);
            return TlsStep.Answered;
        }
        if (dataLength != 0)
        {
            await ErrorAsync(NbdOption.StartTls, NbdReplyType.ErrInvalid, "NBD_OPT_STARTTLS takes no data", ct).ConfigureAwait(false);
            return TlsStep.Answered;
        }
        await ReplyAsync(NbdOption.StartTls, NbdReplyType.Ack, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        try
        {
            _tls = await tls.AuthenticateAsync(_stream, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            Log($"TLS handshake failed, closing the connection: {e.Message}");
            return TlsStep.Failed;
        }
        _stream = _tls;
        _in = new BufferedStream(_tls, ReadBufferSize);
        Log($"TLS {_tls.SslProtocol} with client certificate '{_tls.RemoteCertificate?.Subject}'");
        return TlsStep.Running;
    }

    private enum TlsStep
    {
        /// <summary>STARTTLS was answered with an error; option haggling goes on as before.</summary>
        Answered,
        /// <summary>The handshake failed after the acknowledgement: the session ends.</summary>
        Failed,
        /// <summary>Option haggling goes on over TLS.</summary>
        Running,
    }
}
