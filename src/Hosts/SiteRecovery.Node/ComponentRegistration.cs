using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node;

/// <summary>Where and how this node's process-server and master-target roles register.</summary>
/// <param name="ApiUrl">HTTP API of the node that runs the configuration role.</param>
/// <param name="ConfigurationServerId">The configuration server to register with.</param>
/// <param name="PassphraseFile">A file holding the passphrase; read into memory once, never copied, logged or stored.</param>
public sealed record ComponentRegistrationSettings(string ApiUrl, string ConfigurationServerId, string PassphraseFile);

/// <summary>
/// Registers this node's process server and master target with a configuration server by
/// challenge-response: the passphrase never leaves the process, only an HMAC proof over a fresh
/// nonce does. A refusal stops the node with the configuration server's reason.
/// </summary>
public static class ComponentRegistration
{
    public static async Task RegisterAsync(ComponentRegistrationSettings s, IEnumerable<(string ComponentId, ComponentKind Kind)> components, Action<string> log, CancellationToken ct)
    {
        string passphrase;
        try { passphrase = (await File.ReadAllTextAsync(s.PassphraseFile, ct)).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"--passphrase-file '{s.PassphraseFile}' cannot be read: {e.Message}");
        }
        if (passphrase.Length == 0) throw new InvalidOperationException($"--passphrase-file '{s.PassphraseFile}' is empty");
        using var http = new HttpClient { BaseAddress = new Uri(s.ApiUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        foreach (var (componentId, kind) in components)
        {
            var challenge = await PostAsync(http, $"api/configuration-servers/{s.ConfigurationServerId}/challenges", new { componentId, kind = kind.ToString() }, ct);
            var proof = PassphraseProof.Compute(passphrase, challenge["saltBase64"]!.GetValue<string>(), challenge["nonce"]!.GetValue<string>(),
                componentId, challenge["iterations"]!.GetValue<int>());
            await PostAsync(http, $"api/configuration-servers/{s.ConfigurationServerId}/components",
                new { componentId, nonce = challenge["nonce"]!.GetValue<string>(), proof }, ct);
            log($"{kind} {componentId} registered with configuration server {s.ConfigurationServerId}");
        }
    }

    static async Task<JsonNode> PostAsync(HttpClient http, string path, object body, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await http.PostAsJsonAsync(path, body, ct); }
        catch (HttpRequestException e) { throw new InvalidOperationException($"configuration server API {http.BaseAddress} not reachable: {e.Message}"); }
        var text = await response.Content.ReadAsStringAsync(ct);
        var node = text.Length > 0 ? JsonNode.Parse(text) : null;
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"registration with the configuration server refused: {node?["error"]?.GetValue<string>() ?? $"HTTP {(int)response.StatusCode}"}");
        return node ?? new JsonObject();
    }
}
