using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node;

/// <summary>Where and how this node's process-server and master-target roles register.</summary>
/// <param name="ApiUrl">HTTP API of the node that runs the configuration role.</param>
/// <param name="ConfigurationServerId">The configuration server to register with.</param>
/// <param name="PassphraseFile">A file holding the passphrase; read into memory once, never copied, logged or stored.</param>
public sealed record ComponentRegistrationSettings(string ApiUrl, string ConfigurationServerId, string PassphraseFile);

/// <summary>
/// Registers this node's process server and master target with a configuration server by challenge-response
/// (<see cref="ComponentEnrollment"/>): the passphrase never leaves the process, only an HMAC proof over a fresh nonce
/// and the component's public key does. Each component has its own key (<c>keys/components/ID/writer.key</c>, made on
/// first start, 0600), which the site's authority certifies; the certificate and the authority's are kept beside it.
/// A refusal stops the node with the configuration server's reason.
/// </summary>
public static class ComponentRegistration
{
    public static async Task RegisterAsync(ComponentRegistrationSettings s, IEnumerable<(string ComponentId, ComponentKind Kind)> components, string keysDirectory,
        Action<string> log, CancellationToken ct)
    {
        string passphrase;
        try { passphrase = await ComponentEnrollment.ReadPassphraseAsync("--passphrase-file", s.PassphraseFile, ct); }
        catch (ArgumentException e) { throw new InvalidOperationException(e.Message); }
        using var http = new HttpClient { BaseAddress = new Uri(s.ApiUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        foreach (var (componentId, kind) in components)
        {
            var folder = Path.Combine(keysDirectory, componentId);
            using var key = WriterIdentity.Open(folder);
            var issued = await ComponentEnrollment.RegisterAsync(http, s.ConfigurationServerId, componentId, kind, passphrase, key.PublicKey, ct);
            issued!.Store(folder);
            log($"{kind} {componentId} registered with configuration server {s.ConfigurationServerId}; key {issued.KeySha256[..16]} certified until {issued.NotAfter:u}");
        }
    }
}
