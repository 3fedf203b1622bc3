using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Ctl;

/// <summary>
/// A thin client of the node's HTTP API; errors carry the node's own message. It presents the token in
/// <paramref name="tokenFile"/> once that file exists (a node being started writes it), or the one
/// <see cref="ApiToken.Resolve"/> finds.
/// </summary>
public sealed class ApiClient(string baseUrl, string? tokenFile = null) : IDisposable
{
    readonly HttpClient _http = Http(TimeSpan.FromMinutes(10), new Uri(baseUrl.TrimEnd('/') + "/"));

    /// <summary>An HTTP client that trusts, besides the system's roots, the certificates of <see cref="ApiTrust.Resolve"/>.</summary>
    public static HttpClient Http(TimeSpan timeout, Uri? baseAddress = null)
    {
        // A bad trust file is reported by Unreachable.
        return new HttpClient(SiteRecovery.Contracts.Net.CertificateTrust.HttpHandler(ApiTrust.Resolve)) { BaseAddress = baseAddress, Timeout = timeout };
    }

    void PresentToken()
    {
        if (_http.DefaultRequestHeaders.Authorization is not null) return;
        var token = tokenFile is null ? ApiToken.Resolve() : File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : null;
        if (token is { Length: > 0 }) _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
    }

    public async Task<JsonNode> GetAsync(string path, CancellationToken ct)
        => await SendAsync(() => _http.GetAsync(path.TrimStart('/'), ct), ct);

    /// <summary>A plain-text answer (a machine's console), or the node's error.</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken ct)
    {
        PresentToken();
        HttpResponseMessage response;
        try { response = await _http.GetAsync(path.TrimStart('/'), ct); }
        catch (HttpRequestException e) { throw new ApiException(Unreachable(e)); }
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.IsSuccessStatusCode) return text;
        string? error = null;
        try { error = JsonNode.Parse(text)?["error"]?.GetValue<string>(); } catch (JsonException) { }
        throw new ApiException(error ?? $"HTTP {(int)response.StatusCode}: {text}");
    }

    public async Task<JsonNode> PostAsync(string path, object body, CancellationToken ct)
        => await SendAsync(() => _http.PostAsJsonAsync(path.TrimStart('/'), body, ct), ct);

    public async Task<JsonNode> PutAsync(string path, object body, CancellationToken ct)
        => await SendAsync(() => _http.PutAsJsonAsync(path.TrimStart('/'), body, ct), ct);

    public async Task<JsonNode> DeleteAsync(string path, CancellationToken ct)
        => await SendAsync(() => _http.DeleteAsync(path.TrimStart('/'), ct), ct);

    async Task<JsonNode> SendAsync(Func<Task<HttpResponseMessage>> send, CancellationToken ct)
    {
        PresentToken();
        HttpResponseMessage response;
        try { response = await send(); }
        catch (HttpRequestException e) { throw new ApiException(Unreachable(e)); }
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonNode? node = null;
        try { node = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (JsonException) { }
        if (!response.IsSuccessStatusCode)
            throw new ApiException(node?["error"]?.GetValue<string>() ?? $"HTTP {(int)response.StatusCode}: {text}");
        return node ?? new JsonObject();
    }

    internal static string Unreachable(HttpRequestException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
            if (inner is ApiException bad) return bad.Message;
        return e.InnerException is System.Security.Authentication.AuthenticationException
            ? $"node API not trusted: {e.Message} (its certificate is not one the system or --ca-file trusts; a node's own is <data>/keys/api.crt)"
            : $"node API not reachable: {e.Message}";
    }

    public void Dispose() => _http.Dispose();
}

public sealed class ApiException(string message) : Exception(message);

/// <summary>
/// Which certificates srctl trusts for an https API besides the system's: the file of <c>--ca-file</c> or
/// <c>SR_CA_FILE</c>, else the certificate a node started from this directory with its default data directory made
/// (<c>.data/node/keys/api.crt</c>) if it exists.
/// </summary>
public static class ApiTrust
{
    public const string DefaultFile = ".data/node/keys/api.crt";

    /// <summary>Set from <c>--ca-file</c> before a command runs.</summary>
    public static string? File { get; set; }

    public static System.Security.Cryptography.X509Certificates.X509Certificate2Collection? Resolve()
    {
        var file = File ?? Environment.GetEnvironmentVariable("SR_CA_FILE");
        if (file is { Length: > 0 })
        {
            try { return SiteRecovery.Contracts.Net.CertificateTrust.Load(file); }
            catch (InvalidOperationException e) { throw new ApiException(e.Message); }
        }
        return System.IO.File.Exists(DefaultFile) ? SiteRecovery.Contracts.Net.CertificateTrust.Load(DefaultFile) : null;
    }
}

/// <summary>
/// Which bearer token srctl presents: <c>SR_TOKEN</c>; else the file named by <c>--token-file</c> or <c>SR_TOKEN_FILE</c>;
/// else the admin token a node started from this directory with its default data directory wrote
/// (<c>.data/node/keys/admin.token</c>), so one machine's site works without setup. None when there is none.
/// </summary>
public static class ApiToken
{
    public const string DefaultFile = ".data/node/keys/admin.token";

    /// <summary>Set from <c>--token-file</c> before a command runs.</summary>
    public static string? File { get; set; }

    public static string? Resolve()
    {
        if (Environment.GetEnvironmentVariable("SR_TOKEN") is { Length: > 0 } t) return t.Trim();
        var file = File ?? Environment.GetEnvironmentVariable("SR_TOKEN_FILE");
        if (file is { Length: > 0 })
        {
            try { return System.IO.File.ReadAllText(file).Trim(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ApiException($"token file '{file}' cannot be read: {e.Message}"); }
        }
        return System.IO.File.Exists(DefaultFile) ? System.IO.File.ReadAllText(DefaultFile).Trim() : null;
    }
}
