using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Chaos.Tests.Support;

public sealed record ApiResponse(HttpStatusCode Status, JsonNode? Body, string Text)
{
    public string Error => Body?["error"]?.GetValue<string>() ?? Text;
}

/// <summary>A thin JSON client for a node's HTTP API.</summary>
public sealed class Api(string baseUrl) : IDisposable
{
    readonly HttpClient _http = new() { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(150) };

    public string BaseUrl => baseUrl;

    public async Task<ApiResponse> GetAsync(string path, CancellationToken ct = default)
    {
        using var r = await _http.GetAsync(path, ct);
        return await ReadAsync(r, ct);
    }

    public async Task<ApiResponse> PostAsync(string path, object body, CancellationToken ct = default)
    {
        using var r = await _http.PostAsJsonAsync(path, body, ct);
        return await ReadAsync(r, ct);
    }

    public async Task<ApiResponse> PutAsync(string path, object body, CancellationToken ct = default)
    {
        using var r = await _http.PutAsJsonAsync(path, body, ct);
        return await ReadAsync(r, ct);
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
