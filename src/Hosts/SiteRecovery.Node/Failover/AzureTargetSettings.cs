using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using SiteRecovery.Compute.Azure;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// The node's Azure compute target (<c>siterecovery.failover.azure-target</c> in <c>hocon/failover.hocon</c>): configured
/// when <c>subscription-id</c> is set, and then every key it needs must be, or the node does not start (the key named).
/// The credential is a Resource Manager access token in a private file (<c>token-file</c>) or an environment variable
/// (<c>token-env</c>), as the page-blob account's is: never the command line, never logged.
/// </summary>
public sealed record AzureTargetSettings(AzureTargetOptions Options, string TokenFile, string TokenEnv, string TrustedCertificateFile)
{
    public const string Root = "siterecovery.failover.azure-target";

    /// <summary>The target's settings, or null when <c>subscription-id</c> is empty (the node has no Azure target).</summary>
    public static AzureTargetSettings? Read(Config c)
    {
        if (!c.HasPath(Root) || String(c, "subscription-id") is not { Length: > 0 } subscription) return null;
        string Required(string key) => String(c, key) is { Length: > 0 } v ? v : throw new ArgumentException($"{Root}.{key} must be set when {Root}.subscription-id is");
        var accountId = Required("storage-account-id");
        var account = accountId.TrimEnd('/').Split('/')[^1];
        if (!accountId.Contains("/providers/Microsoft.Storage/storageAccounts/", StringComparison.OrdinalIgnoreCase) || account.Length == 0)
            throw new ArgumentException($"{Root}.storage-account-id '{accountId}' is not a storage account's ARM id (/subscriptions/…/providers/Microsoft.Storage/storageAccounts/NAME)");
        var blob = String(c, "storage-blob-endpoint") is { Length: > 0 } b ? b : $"https://{account}.blob.core.windows.net/";
        if (!Uri.TryCreate(blob, UriKind.Absolute, out var blobEndpoint) || blobEndpoint.Scheme is not ("https" or "http"))
            throw new ArgumentException($"{Root}.storage-blob-endpoint '{blob}' is not an http(s) URL");
        var endpoint = Required("endpoint");
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var arm) || arm.Scheme != "https")
            throw new ArgumentException($"{Root}.endpoint '{endpoint}' is not an https URL");
        var options = new AzureTargetOptions(subscription, Required("resource-group"), Required("location"), accountId,
            Required("production-subnet-id"), Required("isolated-subnet-id"))
        {
            Endpoint = arm,
            Audience = String(c, "audience") is { Length: > 0 } audience ? audience : arm.AbsoluteUri,
            BlobEndpoint = blobEndpoint,
            NetworkApiVersion = Required("network-api-version"),
            MaxRetries = (int)Whole(c, "retry.max-retries", 0, 100),
            RetryDelay = Positive(c, "retry.delay"),
            MaxRetryDelay = Positive(c, "retry.max-delay"),
            BootPollInterval = Positive(c, "boot-poll-interval"),
        };
        var settings = new AzureTargetSettings(options, String(c, "token-file"), String(c, "token-env"), String(c, "trusted-certificate-file"));
        // Read now, so a missing or open token file stops the start rather than the first failover.
        _ = settings.Credential();
        _ = settings.Transport();
        return settings;
    }

    /// <summary>The access token's source: exactly one of <c>token-file</c> and <c>token-env</c>.</summary>
    public AccessTokenSource Credential()
    {
        try
        {
            return (TokenFile.Length > 0, TokenEnv.Length > 0) switch
            {
                (true, false) => AccessTokenSource.FromFile(Path.GetFullPath(TokenFile)),
                (false, true) => AccessTokenSource.FromEnvironment(TokenEnv),
                _ => throw new ArgumentException("give exactly one of token-file and token-env"),
            };
        }
        catch (ArgumentException e) { throw new ArgumentException($"{Root}: {e.Message}"); }
    }

    /// <summary>
    /// How requests reach Resource Manager: the system's trust, or, with <c>trusted-certificate-file</c> (a PEM
    /// certificate: a private cloud's endpoint, a test's stand-in), exactly that certificate and nothing else.
    /// </summary>
    public HttpMessageHandler? Transport()
    {
        if (TrustedCertificateFile.Length == 0) return null;
        X509Certificate2 pinned;
        try { pinned = X509Certificate2.CreateFromPem(File.ReadAllText(TrustedCertificateFile)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"{Root}.trusted-certificate-file '{TrustedCertificateFile}': not a readable PEM certificate ({e.Message})");
        }
        var hash = pinned.GetCertHashString();
        return new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == hash },
        };
    }

    static string String(Config c, string key) => c.HasPath($"{Root}.{key}") ? c.GetString($"{Root}.{key}") ?? "" : "";

    static long Whole(Config c, string key, long min, long max)
    {
        var v = c.GetLong($"{Root}.{key}");
        return v >= min && v <= max ? v : throw new ArgumentException($"{Root}.{key} = {v} is outside {min}..{max}");
    }

    static TimeSpan Positive(Config c, string key)
    {
        var v = c.GetTimeSpan($"{Root}.{key}");
        return v > TimeSpan.Zero ? v : throw new ArgumentException($"{Root}.{key} = {v} must be positive");
    }
}
