using SiteRecovery.Contracts.Storage;
using System.Net.Http.Headers;

namespace SiteRecovery.Node.Access;

/// <summary>
/// The tokens this node presents to other sites' APIs (a failback waits on the original site's master target and asks it
/// to return machines): <c>--peer-tokens FILE</c>, a file only its owner may read, one line per site,
/// <c>API_URL TOKEN [CA_FILE]</c> (<c>#</c> starts a comment); CA_FILE is the PEM certificate an https site is trusted
/// by when the system does not already trust it (that site's <c>keys/api.crt</c>, or its CA). It is read at each call, so a site added or a token rotated in the
/// file is used from the next call on, without a restart; the tokens never sit in the journal or on a command line.
/// </summary>
public sealed class PeerTokens
{
    public const string Flag = "--peer-tokens";

    readonly string? _file;
    readonly HttpClientHandler _shared;

    public PeerTokens(string? file)
    {
        _file = file;
        _shared = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (request, presented, _, errors) =>
                errors == System.Net.Security.SslPolicyErrors.None
                || (request.RequestUri is { } uri && Line(uri)?.CaFile is { } ca
                    && SiteRecovery.Contracts.Net.CertificateTrust.Accepts(SiteRecovery.Contracts.Net.CertificateTrust.Load(ca), presented, uri.Host, errors)),
        };
    }

    /// <summary>Checks <paramref name="file"/> at start-up: it must exist and be readable by its owner only.</summary>
    public static PeerTokens Open(string? file)
    {
        if (file is null) return new PeerTokens(null);
        var path = Path.GetFullPath(file);
        if (!File.Exists(path)) throw new ArgumentException($"{Flag} '{path}' does not exist (create it 0600, one 'API_URL TOKEN' line per site)");
        if (PrivateFiles.OpenToOthers(path))
            throw new ArgumentException($"{Flag} '{path}' may be read or written by other users; it holds tokens: chmod 600 it");
        return new PeerTokens(path);
    }

    static string Key(Uri uri) => uri.GetLeftPart(UriPartial.Authority).TrimEnd('/').ToLowerInvariant();

    /// <summary>Null when a token is configured for the API at <paramref name="apiUrl"/>; otherwise what to do about it.</summary>
    public string? Missing(string apiUrl)
    {
        if (!Uri.TryCreate(apiUrl, UriKind.Absolute, out var uri)) return $"'{apiUrl}' is not a URL";
        try
        {
            return TokenFor(uri) is null
                ? $"this node has no token for the API at {Key(uri)}: add a line '{Key(uri)} TOKEN' (a token of that site with the recovery-admin role) to the file given by {Flag}" +
                  (_file is null ? " (this node was started without one)" : $" ({_file})")
                : null;
        }
        catch (HttpRequestException e) { return e.Message; }
    }

    /// <summary>A client that presents, on each request, the token configured for the request's site.</summary>
    public HttpClient Client(TimeSpan timeout) => new(new Presenter(this) { InnerHandler = _shared }, disposeHandler: false) { Timeout = timeout };

    string? TokenFor(Uri requestUri) => Line(requestUri)?.Token;

    (string Token, string? CaFile)? Line(Uri requestUri)
    {
        if (_file is null) return null;
        string[] lines;
        try { lines = File.ReadAllLines(_file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HttpRequestException($"{Flag} '{_file}' cannot be read: {e.Message}", e);
        }
        var want = Key(requestUri);
        foreach (var line in lines)
        {
            var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length is < 2 or > 3 || parts[0].StartsWith('#')) continue;
            if (Uri.TryCreate(parts[0], UriKind.Absolute, out var site) && Key(site) == want) return (parts[1], parts.Length == 3 ? parts[2] : null);
        }
        return null;
    }

    sealed class Presenter(PeerTokens tokens) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (request.RequestUri is { } uri && tokens.TokenFor(uri) is { } token)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return base.SendAsync(request, ct);
        }
    }
}
