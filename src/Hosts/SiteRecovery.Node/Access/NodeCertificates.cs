using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Certificates for the components this node runs or launches itself, so that a site can require mutual TLS on every
/// hop (<c>siterecovery.data-path.tls</c>): its own process server and master target, and the agents it starts for a
/// reprotect or a return (<see cref="Failover.ReverseAgents"/>).
/// <list type="bullet">
/// <item>A node with the configuration role is the site's authority: it certifies those keys itself, with no passphrase
/// round trip (it would only prove to itself that it holds its own passphrase).</item>
/// <item>A node without it that registered (<c>--register-with</c>) registers a launched agent as <c>sragent register</c>
/// does, by the passphrase proof over the agent's key; its own roles registered at start (<see cref="ComponentRegistration"/>).</item>
/// <item>Any other node has no way to a certificate: its components speak plain, which only a listener that does not
/// require TLS serves.</item>
/// </list>
/// Keys stay in their 0600 files (<see cref="WriterIdentity"/>); certificates are public and kept beside them
/// (<see cref="EnrollmentCertificates.Store"/>). A certificate issued here is not journaled with a registration: it is
/// re-issued from the same authority when it is due, never renewed through the API.
/// </summary>
public sealed class NodeCertificates(NodeOptions options, ApiSettings settings, SiteAuthority? authority, ILogger<NodeCertificates> logger)
{
    void Log(string m) => logger.LogInformation("{Message}", m);

    /// <summary>Whether this node certifies keys itself (it runs the configuration role, so it holds the site's authority).</summary>
    public bool IsAuthority => authority is not null;

    /// <summary>
    /// Certifies the key in <paramref name="folder"/> (made there, 0600, when missing) as <paramref name="componentId"/> of
    /// <paramref name="kind"/> from this node's authority, unless the certificate there already is this authority's, for
    /// this key and component, with more than <see cref="ApiSettings.RenewBelow"/> of its lifetime left at
    /// <paramref name="now"/>. Returns whether it issued one. Only on a node that <see cref="IsAuthority"/>.
    /// </summary>
    public bool IssueIfDue(string folder, string componentId, ComponentKind kind, DateTimeOffset now)
    {
        var issuer = authority ?? throw new InvalidOperationException($"node {options.NodeId} runs no configuration role, so it holds no site authority to certify {componentId}");
        using var key = WriterIdentity.Open(folder);
        if (Current(folder, issuer.CertificatePem, key, componentId, kind, now)) return false;
        var plan = issuer.Plan(now, settings.ComponentCertificateLifetime);
        using var certificate = issuer.Issue(componentId, kind, key.PublicKey, plan);
        var issued = new EnrollmentCertificates(key.Fingerprint, certificate.ExportCertificatePem(), issuer.CertificatePem);
        issued.Store(folder);
        Log($"{kind} {componentId}: certified by this node's site authority (no registration needed: it is the authority); key {key.Fingerprint[..16]}, " +
            $"serial {plan.SerialHex}, valid until {certificate.NotAfter.ToUniversalTime():u}");
        return true;
    }

    /// <summary>
    /// Gives an agent this node launches (<paramref name="machineId"/>, its key in <paramref name="folder"/>) a certificate
    /// before it starts, on a site that requires TLS of agents: from this node's authority, or by registering it with the
    /// configuration server this node registered with. Returns why it has none otherwise (the agent then speaks plain,
    /// which a listener that requires TLS refuses by name).
    /// </summary>
    public async Task<string?> CertifyLaunchedAgentAsync(string folder, string machineId, CancellationToken ct)
    {
        // An agent that holds a certificate speaks only TLS, and a process server without a certificate of its own (a
        // site not registered yet) cannot: while the site lets agents in plain (this node's own agent listener setting,
        // the site's policy) a launched agent stays plain, which every process server of such a site serves.
        if (DataPathSettings.TlsMode(options.DataPath, "process-server") is not HopTlsMode.Required and var mode)
            return $"siterecovery.data-path.tls.process-server is {mode.ToString().ToLowerInvariant()} here: a site that does not require TLS serves plain agents";
        if (authority is not null)
        {
            IssueIfDue(folder, machineId, ComponentKind.Agent, DateTimeOffset.UtcNow);
            return null;
        }
        if (options.Registration is not { } registration)
            return $"node {options.NodeId} neither runs the configuration role nor registered with one (--register-with), so agent {machineId} gets no certificate";
        string passphrase;
        try { passphrase = await ComponentEnrollment.ReadPassphraseAsync("--passphrase-file", registration.PassphraseFile, ct); }
        catch (ArgumentException e) { throw new InvalidOperationException($"agent {machineId} cannot be registered: {e.Message}"); }
        using var key = WriterIdentity.Open(folder);
        // An agent relaunched (a repeated attempt) keeps its certificate: registering again would revoke the one it holds.
        if (Current(folder, null, key, machineId, ComponentKind.Agent, DateTimeOffset.UtcNow)) return null;
        using var http = registration.Client();
        var issued = await ComponentEnrollment.RegisterAsync(http, registration.ConfigurationServerId, machineId, ComponentKind.Agent, passphrase, key.PublicKey, ct);
        issued!.Store(folder);
        Log($"agent {machineId} registered with configuration server {registration.ConfigurationServerId}; key {issued.KeySha256[..16]} certified until {issued.NotAfter.ToUniversalTime():u}");
        return null;
    }

    /// <summary>
    /// Renews the certificates of the agents this node launched for a reprotect or a return (their writer folders,
    /// <see cref="Failover.ReverseAgents.WritersDirectory"/>) that are due at <paramref name="now"/>: such an agent runs as
    /// long as its machine, reads its certificate at every connection and, holding no enrollment of its own, does not
    /// renew it itself. From this node's authority, or by proof of the agent's key at the configuration server this node
    /// registered it with; an agent with no certificate (a site that serves plain agents) is left alone. A failure is
    /// logged and tried again at the next check (<see cref="ComponentCertificateRenewal"/>): the old certificate stays
    /// valid until it ends.
    /// </summary>
    public async Task RenewLaunchedAgentsAsync(DateTimeOffset now, CancellationToken ct)
    {
        var writers = Failover.ReverseAgents.WritersDirectory(options.DataDirectory);
        if (!Directory.Exists(writers)) return;
        var certified = Directory.EnumerateDirectories(writers)
            .Where(folder => File.Exists(Path.Combine(folder, EnrollmentCertificates.CertificateFileName)))
            .Select(folder => Path.GetFileName(folder)).ToList();
        if (authority is null)
        {
            if (options.Registration is { } registration)
                await ComponentRegistration.RenewDueAsync(registration, certified, writers, settings.RenewBelow, now, m => Log($"agent {m}"), ct);
            return;
        }
        foreach (var machineId in certified)
        {
            try { IssueIfDue(Path.Combine(writers, machineId), machineId, ComponentKind.Agent, now); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or InvalidDataException)
            {
                logger.LogWarning("{Message}", $"agent {machineId}: certifying it again failed, tried again at the next check: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="folder"/> holds a certificate for this key and component, issued by the authority stored
    /// beside it (which must be <paramref name="authorityPem"/> when given), that is not due for renewal at <paramref name="now"/>.
    /// </summary>
    bool Current(string folder, string? authorityPem, WriterIdentity key, string componentId, ComponentKind kind, DateTimeOffset now)
    {
        var path = Path.Combine(folder, EnrollmentCertificates.CertificateFileName);
        var authorityPath = Path.Combine(folder, EnrollmentCertificates.AuthorityFileName);
        if (!File.Exists(path) || !File.Exists(authorityPath)) return false;
        try
        {
            var storedAuthority = File.ReadAllText(authorityPath);
            if (authorityPem is not null && storedAuthority.Trim() != authorityPem.Trim()) return false;
            using var held = X509CertificateLoader.LoadCertificateFromFile(path);
            if (HopPeer.From(held) is not { } peer || peer.Kind != kind || peer.Id != componentId || peer.KeySha256 != key.Fingerprint) return false;
            using var root = X509Certificate2.CreateFromPem(storedAuthority);
            if (!SiteRecovery.Contracts.Net.CertificateTrust.IssuedToClientBy([root], held, null)) return false;
            return !ComponentEnrollment.RenewalDue(held, settings.RenewBelow, now);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or IOException) { return false; }
    }
}
