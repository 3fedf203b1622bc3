using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Contracts.Net;

namespace SiteRecovery.Capture.Nbd;

/// <summary>
/// Mutual TLS for an <see cref="NbdServer"/>: with it set (<see cref="NbdServerOptions.Tls"/>) the server runs the NBD
/// protocol's FORCEDTLS mode. Until a client sends NBD_OPT_STARTTLS every option but NBD_OPT_ABORT is answered
/// NBD_REP_ERR_TLS_REQD (and NBD_OPT_EXPORT_NAME, which cannot be answered, ends the session); NBD_OPT_STARTTLS is
/// acknowledged and the TLS handshake (1.2 or 1.3) runs, in which the client must present a certificate issued by one
/// of <see cref="ClientAuthorities"/>. The certificate is the credential: the exports serve raw disks, so a valid client
/// certificate is what separates a recovery tool from anyone who can reach the port.
/// </summary>
/// <remarks>A class rather than a record: it holds the certificate context built from its inputs, which a copy made
/// with <c>with</c> would carry over stale.</remarks>
public sealed class NbdTls(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection clientAuthorities)
{
    /// <summary>The server's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; } = certificate;

    /// <summary>The CAs whose client certificates are accepted; the machine's trust store is not consulted.</summary>
    public X509Certificate2Collection ClientAuthorities { get; } = clientAuthorities;

    // The NBD protocol requires TLS 1.2 and recommends nothing older.
    const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    // Built once: it holds the chain (certificate and intermediates) sent to every client.
    readonly SslStreamCertificateContext _context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);

    /// <summary>
    /// Runs the server side of the TLS handshake over <paramref name="transport"/>; the stream that carries the rest of
    /// the session. Throws <see cref="AuthenticationException"/> when the client's certificate is missing or not issued
    /// by <see cref="ClientAuthorities"/>, or the client does not speak TLS.
    /// </summary>
    internal async Task<SslStream> AuthenticateAsync(Stream transport, CancellationToken ct)
    {
        var ssl = new SslStream(transport, leaveInnerStreamOpen: true);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _context,
                ClientCertificateRequired = true,
                EnabledSslProtocols = Protocols,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                AllowRenegotiation = false,
                RemoteCertificateValidationCallback = (_, presented, chain, _) => CertificateTrust.IssuedToClientBy(ClientAuthorities,
                    presented as X509Certificate2, chain?.ChainElements.Select(e => e.Certificate)),
            }, ct).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
