using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node;

/// <summary>Where and how this node's process-server and master-target roles register.</summary>
/// <param name="ApiUrl">HTTP API of the node that runs the configuration role.</param>
/// <param name="ConfigurationServerId">The configuration server to register with.</param>
/// <param name="PassphraseFile">A file holding the passphrase; read into memory once, never copied, logged or stored.</param>
/// <param name="CaFile">PEM certificate(s) an https <paramref name="ApiUrl"/> is trusted by besides the system's (<c>--register-ca-file</c>).</param>
public sealed record ComponentRegistrationSettings(string ApiUrl, string ConfigurationServerId, string PassphraseFile, string? CaFile = null)
{
    /// <summary>A client of the configuration node's API that trusts its certificate by <see cref="CaFile"/> (the one https trust handler).</summary>
    public HttpClient Client() => ComponentEnrollment.ApiClient(ApiUrl, CaFile);
}

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
        using var http = s.Client();
        foreach (var (componentId, kind) in components)
        {
            var folder = Path.Combine(keysDirectory, componentId);
            using var key = WriterIdentity.Open(folder);
            var issued = await ComponentEnrollment.RegisterAsync(http, s.ConfigurationServerId, componentId, kind, passphrase, key.PublicKey, ct);
            issued!.Store(folder);
            log($"{kind} {componentId} registered with configuration server {s.ConfigurationServerId}; key {issued.KeySha256[..16]} certified until {issued.NotAfter:u}");
        }
    }

    /// <summary>
    /// Renews the certificate of each component in <paramref name="componentIds"/> whose remaining validity is below
    /// <paramref name="renewBelow"/> of its lifetime, by proof of possession of its key (no passphrase); the files are
    /// replaced atomically, so a connection reading them sees the old certificate or the new one, never half of one.
    /// A failure is logged and tried again at the next check: the old certificate stays valid until it ends.
    /// </summary>
    public static async Task RenewDueAsync(ComponentRegistrationSettings s, IEnumerable<string> componentIds, string keysDirectory, double renewBelow,
        DateTimeOffset now, Action<string> log, CancellationToken ct)
    {
        using var http = s.Client();
        foreach (var componentId in componentIds)
        {
            var folder = Path.Combine(keysDirectory, componentId);
            try
            {
                if (await ComponentEnrollment.RenewIfDueAsync(http, s.ConfigurationServerId, componentId, folder, renewBelow, now, ct) is { } renewed)
                    log($"{componentId}: certificate renewed (same key {renewed.KeySha256[..16]}), valid until {renewed.NotAfter:u}");
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                log($"{componentId}: certificate renewal failed, tried again at the next check: {e.Message}");
            }
        }
    }
}

/// <summary>
/// The node's timer that keeps its components' certificates renewed before they end
/// (<c>siterecovery.api.component-certificate-renewal-check-interval</c> and <c>-renew-below</c>): a node that registered
/// them (<c>--register-with</c>) renews them by proof of their keys; a node that is the site's authority certifies them
/// again itself (<see cref="DataPathService.CertifyLocal"/>). Started after the data path, whose start certifies them.
/// The agents the node launched for a reprotect or a return are renewed the same way while they run
/// (<see cref="Access.NodeCertificates.RenewLaunchedAgentsAsync"/>).
/// </summary>
public sealed class ComponentCertificateRenewal(NodeOptions options, Access.ApiSettings settings, DataPathService dataPath, Access.NodeCertificates certificates,
    ILogger<ComponentCertificateRenewal> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var registration = options.Registration;
        if (registration is null && !certificates.IsAuthority) return;
        var components = dataPath.LocalComponents.Select(c => c.Id).ToList();
        using var timer = new PeriodicTimer(settings.RenewalCheckInterval);
        while (await timer.WaitForNextTickAsync(ct))
        {
            if (registration is not null)
                await ComponentRegistration.RenewDueAsync(registration, components, Path.Combine(options.DataDirectory, "keys", "components"), settings.RenewBelow,
                    DateTimeOffset.UtcNow, m => logger.LogInformation("{Message}", m), ct);
            else
            {
                // A failure is logged and tried again at the next check: the old certificate stays valid until it ends.
                try { dataPath.CertifyLocal(DateTimeOffset.UtcNow); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or InvalidDataException)
                {
                    logger.LogWarning("{Message}", $"certifying this node's own components again failed, tried again at the next check: {e.Message}");
                }
            }
            await certificates.RenewLaunchedAgentsAsync(DateTimeOffset.UtcNow, ct);
        }
    }
}
