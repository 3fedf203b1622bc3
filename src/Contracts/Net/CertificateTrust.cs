using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SiteRecovery.Contracts.Net;

/// <summary>
/// Trust in a server certificate the system does not know, by a file the operator gave: a node's self-signed API
/// certificate (<c>keys/api.crt</c>) or the CA that signed it. The certificate must chain to one in the file and name
/// the host the client asked for; a certificate the system already trusts is accepted as it is.
/// </summary>
public static class CertificateTrust
{
    /// <summary>The certificates in a PEM file; an error naming the file when it holds none or cannot be read.</summary>
    public static X509Certificate2Collection Load(string pemFile)
    {
        var roots = new X509Certificate2Collection();
        try { roots.ImportFromPemFile(pemFile); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new InvalidOperationException($"CA file '{pemFile}' cannot be read: {e.Message}");
        }
        if (roots.Count == 0) throw new InvalidOperationException($"CA file '{pemFile}' holds no certificate");
        return roots;
    }

    public static bool Accepts(X509Certificate2Collection? roots, X509Certificate2? presented, string host, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None) return true;
        if (roots is null || presented is null) return false;
        return ChainsTo(roots, presented, sentAlong: null, purpose: null) && presented.MatchesHostname(host.Trim('[', ']'), allowWildcards: true);
    }

    /// <summary>
    /// An HTTP handler that trusts, besides the system's roots, the certificates <paramref name="roots"/> gives (read at
    /// the first https handshake, so a plain-http client never needs the file): the one way an API client here trusts a
    /// node's own certificate.
    /// </summary>
    public static HttpClientHandler HttpHandler(Func<X509Certificate2Collection?> roots)
    {
        var loaded = new Lazy<X509Certificate2Collection?>(roots);
        return new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (request, presented, _, errors) =>
                errors == SslPolicyErrors.None || Accepts(loaded.Value, presented, request.RequestUri?.Host ?? "", errors),
        };
    }

    /// <summary>
    /// Whether a client certificate (mutual TLS) was issued, directly or through <paramref name="sentAlong"/>
    /// intermediates, by one of <paramref name="authorities"/> and allows client authentication. Unlike
    /// <see cref="Accepts"/> the machine's trust store is never consulted: a client certificate from a public CA is
    /// not a credential for this service.
    /// </summary>
    public static bool IssuedToClientBy(X509Certificate2Collection authorities, X509Certificate2? presented, IEnumerable<X509Certificate2>? sentAlong) =>
        presented is not null && ChainsTo(authorities, presented, sentAlong, ClientAuthentication);

    /// <summary>As <see cref="IssuedToClientBy"/>, for a server's certificate (a data-path hop's listener).</summary>
    public static bool IssuedToServerBy(X509Certificate2Collection authorities, X509Certificate2? presented, IEnumerable<X509Certificate2>? sentAlong) =>
        presented is not null && ChainsTo(authorities, presented, sentAlong, ServerAuthentication);

    // Extended key usage OIDs (RFC 5280 4.2.1.12); a certificate without the extension may be used for any purpose.
    const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";
    const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    static bool ChainsTo(X509Certificate2Collection roots, X509Certificate2 presented, IEnumerable<X509Certificate2>? sentAlong, string? purpose)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (purpose is not null) chain.ChainPolicy.ApplicationPolicy.Add(new Oid(purpose));
        foreach (var intermediate in sentAlong ?? []) chain.ChainPolicy.ExtraStore.Add(intermediate);
        return chain.Build(presented);
    }
}
