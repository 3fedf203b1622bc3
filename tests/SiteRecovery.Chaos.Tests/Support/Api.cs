using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Chaos.Tests.Support;

public sealed record ApiResponse(HttpStatusCode Status, JsonNode? Body, string Text)
{
    public string Error => Body?["error"]?.GetValue<string>() ?? Text;
}

/// <summary>
/// A thin JSON client for a node's HTTP API. It presents <see cref="Token"/> when set, else what
/// <paramref name="token"/> gives at each call (a node's admin token file, which exists only once the node has started).
/// </summary>
public sealed class Api(string baseUrl, Func<string?>? token = null, string? caFile = null) : IDisposable
{
    readonly HttpClient _http = Http(caFile, TimeSpan.FromSeconds(150), new Uri(baseUrl.TrimEnd('/') + "/"));

    /// <summary>A client that trusts, besides the system's roots, the certificates in <paramref name="caFile"/> (read at the first handshake).</summary>
    public static HttpClient Http(string? caFile, TimeSpan timeout, Uri? baseAddress = null)
    {
        var handler = SiteRecovery.Contracts.Net.CertificateTrust.HttpHandler(() =>
            caFile is not null && File.Exists(caFile) ? SiteRecovery.Contracts.Net.CertificateTrust.Load(caFile) : null);
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout };
    }

    /// <summary>The certificate file this client trusts, if any.</summary>
    public string? CaFile => caFile;

    public string BaseUrl => baseUrl;

    /// <summary>The bearer token to present instead of the default one; empty presents none.</summary>
    public string? Token { get; set; }

    string? Presented => Token ?? token?.Invoke();

    /// <summary>A client of the same node that presents <paramref name="presented"/> (null or empty: no token).</summary>
    public Api As(string? presented) => new(baseUrl, null, caFile) { Token = presented ?? "" };

    public Task<ApiResponse> GetAsync(string path, CancellationToken ct = default) => SendAsync(HttpMethod.Get, path, null, ct);

    public Task<ApiResponse> PostAsync(string path, object body, CancellationToken ct = default) => SendAsync(HttpMethod.Post, path, body, ct);

    public Task<ApiResponse> PutAsync(string path, object body, CancellationToken ct = default) => SendAsync(HttpMethod.Put, path, body, ct);

    public Task<ApiResponse> DeleteAsync(string path, CancellationToken ct = default) => SendAsync(HttpMethod.Delete, path, null, ct);

    /// <summary>A request as this client would send it (its token attached), for callers that read a stream.</summary>
    public HttpRequestMessage Request(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        if (Presented is { Length: > 0 } t) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", t);
        return request;
    }

    async Task<ApiResponse> SendAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = Request(method, path);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var r = await _http.SendAsync(request, ct);
        return await ReadAsync(r, ct);
    }

    /// <summary>The admin token a node wrote into its data directory on its first start; null before that.</summary>
    public static string? AdminTokenOf(string dataDir)
    {
        var path = Path.Combine(dataDir, "keys", "admin.token");
        try { return File.Exists(path) ? File.ReadAllText(path).Trim() : null; }
        catch (IOException) { return null; }
    }

    static async Task<ApiResponse> ReadAsync(HttpResponseMessage r, CancellationToken ct)
    {
        var text = await r.Content.ReadAsStringAsync(ct);
        JsonNode? node = null;
        try { if (text.Length > 0) node = JsonNode.Parse(text); }
        catch (System.Text.Json.JsonException) { }
        return new ApiResponse(r.StatusCode, node, text);
    }

    public void Dispose() => _http.Dispose();
}
