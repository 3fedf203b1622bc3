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
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented) && presented.MatchesHostname(host.Trim('[', ']'), allowWildcards: true);
    }
}
