using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SiteRecovery.Ctl;

/// <summary>A thin client of the node's HTTP API; errors carry the node's own message.</summary>
public sealed class ApiClient(string baseUrl) : IDisposable
{
    readonly HttpClient _http = new() { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };

    public async Task<JsonNode> GetAsync(string path, CancellationToken ct)
        => await SendAsync(() => _http.GetAsync(path.TrimStart('/'), ct), ct);

    /// <summary>A plain-text answer (a machine's console), or the node's error.</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await _http.GetAsync(path.TrimStart('/'), ct); }
        catch (HttpRequestException e) { throw new ApiException($"node API not reachable: {e.Message}"); }
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

    static async Task<JsonNode> SendAsync(Func<Task<HttpResponseMessage>> send, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await send(); }
        catch (HttpRequestException e) { throw new ApiException($"node API not reachable: {e.Message}"); }
        var text = await response.Content.ReadAsStringAsync(ct);
        JsonNode? node = null;
        try { node = text.Length > 0 ? JsonNode.Parse(text) : null; } catch (JsonException) { }
        if (!response.IsSuccessStatusCode)
            throw new ApiException(node?["error"]?.GetValue<string>() ?? $"HTTP {(int)response.StatusCode}: {text}");
        return node ?? new JsonObject();
    }

    public void Dispose() => _http.Dispose();
}

public sealed class ApiException(string message) : Exception(message);
