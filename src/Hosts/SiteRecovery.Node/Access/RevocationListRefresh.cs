using System.Security.Cryptography.X509Certificates;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Keeps a registered data-path node's listeners current with the site's revocations: fetches the site authority's
/// revocation list (<c>GET /api/site-authority/crl</c> of the configuration node it registered with, an X.509 CRL) at
/// start and every <see cref="ApiSettings.RevocationListRefresh"/>, takes it in only when the authority signed it, and
/// ends the live sessions of every certificate it newly names. A fetch that fails keeps the list in use and is logged
/// once until one succeeds again. Nodes that did not register (no certificates, no TLS) do nothing.
/// </summary>
public sealed class RevocationListRefresh(NodeOptions options, ApiSettings settings, DataPathService dataPath, ILogger<RevocationListRefresh> logger)
    : BackgroundService
{
    void Log(string m) => logger.LogInformation("{Message}", m);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        if (options.Registration is not { } registration) return;
        var failing = false;
        using var timer = new PeriodicTimer(settings.RevocationListRefresh);
        do
        {
            try
            {
                var authority = AuthorityCertificate() ?? throw new InvalidDataException("no component of this node holds the site authority's certificate yet");
                using (authority)
                {
                    using var http = registration.Client();
                    var crl = await http.GetByteArrayAsync("api/site-authority/crl", ct);
                    var added = dataPath.Revoked.Load(crl, authority);
                    if (failing) Log($"revocation list: fetched again from {registration.ApiUrl} ({dataPath.Revoked.Count} revoked)");
                    failing = false;
                    if (added.Count > 0) dataPath.CloseRevoked(added);
                }
            }
            // Whatever goes wrong with one fetch (the configuration node away, a bad answer, a file being replaced) leaves the
            // list in use; the node's data path must not stop for it.
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (!failing) Log($"revocation list: cannot take it from {registration.ApiUrl} ({e.GetType().Name}): {e.Message}; the list in use stays ({dataPath.Revoked.Count} revoked)");
                failing = true;
            }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    /// <summary>The authority's certificate as registration kept it beside a component's key (each holds the same).</summary>
    X509Certificate2? AuthorityCertificate() =>
        new[] { dataPath.ProcessServerId, dataPath.MasterTargetId }
            .Select(id => Path.Combine(options.DataDirectory, "keys", "components", id, SiteRecovery.Connections.EnrollmentCertificates.AuthorityFileName))
            .Where(File.Exists)
            .Select(path => X509Certificate2.CreateFromPem(File.ReadAllText(path)))
            .FirstOrDefault();
}
