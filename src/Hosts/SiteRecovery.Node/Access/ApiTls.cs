using System.Security.Cryptography.X509Certificates;

namespace SiteRecovery.Node.Access;

/// <summary>The certificate the API serves, when it listens on https (null on http).</summary>
public sealed record ApiTls(X509Certificate2? Certificate)
{
    public static ApiTls For(Uri api, string? certificatePem, string? keyPem, string keysDirectory)
    {
        if ((certificatePem is null) != (keyPem is null)) throw new ArgumentException("--api-certificate and --api-certificate-key: give both or neither");
        if (api.Scheme != Uri.UriSchemeHttps)
            return certificatePem is null ? new ApiTls((X509Certificate2?)null) : throw new ArgumentException($"--api-certificate: the API listens on {api.Scheme}, not https");
        return new ApiTls(certificatePem is not null
            ? ApiCertificate.Load(certificatePem, keyPem!)
            : ApiCertificate.OwnFor(keysDirectory, api.Host, DateTimeOffset.UtcNow));
    }

    /// <summary>A handler for this node's calls to its own API: it trusts exactly the certificate the API serves.</summary>
    public HttpMessageHandler OwnApiHandler() => new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, presented, _, errors) =>
            errors == System.Net.Security.SslPolicyErrors.None || (Certificate is not null && presented?.Thumbprint == Certificate.Thumbprint),
    };
}
