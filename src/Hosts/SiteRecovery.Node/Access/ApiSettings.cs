using Akka.Configuration;

namespace SiteRecovery.Node.Access;

/// <summary>
/// The API's access settings (<c>hocon/api.hocon</c>, overridden by <c>--config</c>), checked at start-up.
/// <paramref name="ComponentCertificateLifetime"/>: how long the site's authority certifies a registering component's key.
/// <paramref name="RenewBelow"/>: the fraction of a certificate's lifetime left below which the node renews its own
/// components' certificates, looking every <paramref name="RenewalCheckInterval"/>.
/// </summary>
public sealed record ApiSettings(int FailedAuthentications, TimeSpan FailedAuthenticationWindow, IReadOnlyList<string> AllowedHosts,
    TimeSpan ComponentCertificateLifetime, double RenewBelow, TimeSpan RenewalCheckInterval)
{
    const string Root = "siterecovery.api";

    /// <summary>How long a revocation list the configuration node signs is valid (<c>revocation-list-validity</c>).</summary>
    public TimeSpan RevocationListValidity { get; init; } = TimeSpan.FromDays(1);

    /// <summary>How often a registered data-path node fetches the site's revocation list (<c>revocation-list-refresh-interval</c>).</summary>
    public TimeSpan RevocationListRefresh { get; init; } = TimeSpan.FromSeconds(60);

    public static ApiSettings Load(string? overridePath)
    {
        var defaults = Path.Combine(AppContext.BaseDirectory, "hocon", "api.hocon");
        if (!File.Exists(defaults)) throw new ArgumentException($"configuration file '{defaults}' is missing");
        var c = ConfigurationFactory.ParseString(File.ReadAllText(defaults));
        try
        {
            if (overridePath is not null) c = ConfigurationFactory.ParseString(File.ReadAllText(overridePath)).WithFallback(c);
            var failures = c.GetInt($"{Root}.failed-authentications");
            if (failures is < 1 or > 100_000) throw new ArgumentException($"{Root}.failed-authentications = {failures} is outside 1..100000");
            var window = c.GetTimeSpan($"{Root}.failed-authentication-window");
            if (window < TimeSpan.FromSeconds(1) || window > TimeSpan.FromDays(1))
                throw new ArgumentException($"{Root}.failed-authentication-window = {window} is outside 1s..1d");
            var hosts = c.GetStringList($"{Root}.allowed-hosts") ?? [];
            if (hosts.FirstOrDefault(h => string.IsNullOrWhiteSpace(h) || h.Contains('/') || h.Contains(' ')) is { } bad)
                throw new ArgumentException($"{Root}.allowed-hosts: '{bad}' is not a host name or address");
            var lifetime = c.GetTimeSpan($"{Root}.component-certificate-lifetime");
            if (lifetime < TimeSpan.FromHours(1) || lifetime > TimeSpan.FromDays(366))
                throw new ArgumentException($"{Root}.component-certificate-lifetime = {lifetime} is outside 1h..366d");
            var renewBelow = c.GetDouble($"{Root}.component-certificate-renew-below");
            if (renewBelow is <= 0 or >= 1) throw new ArgumentException($"{Root}.component-certificate-renew-below = {renewBelow} is outside (0, 1)");
            var check = c.GetTimeSpan($"{Root}.component-certificate-renewal-check-interval");
            if (check < TimeSpan.FromSeconds(1) || check > TimeSpan.FromDays(1))
                throw new ArgumentException($"{Root}.component-certificate-renewal-check-interval = {check} is outside 1s..1d");
            var validity = c.GetTimeSpan($"{Root}.revocation-list-validity");
            if (validity < TimeSpan.FromMinutes(1) || validity > TimeSpan.FromDays(30))
                throw new ArgumentException($"{Root}.revocation-list-validity = {validity} is outside 1m..30d");
            var refresh = c.GetTimeSpan($"{Root}.revocation-list-refresh-interval");
            if (refresh < TimeSpan.FromSeconds(1) || refresh > validity)
                throw new ArgumentException($"{Root}.revocation-list-refresh-interval = {refresh} is outside 1s..revocation-list-validity ({validity})");
            return new ApiSettings(failures, window, hosts.ToList(), lifetime, renewBelow, check) { RevocationListValidity = validity, RevocationListRefresh = refresh };
        }
        catch (Exception e) when (e is not ArgumentException) { throw new ArgumentException($"{Root}: {e.Message}"); }
    }

    /// <summary>
    /// The Host header values the API answers: loopback names, the host of <paramref name="apiUrl"/> (unless it is a
    /// wildcard such as 0.0.0.0, which no client sends), and the configured ones.
    /// </summary>
    public IReadOnlyList<string> HostsFor(string apiUrl)
    {
        var hosts = new List<string> { "localhost", "127.0.0.1", "[::1]" };
        if (Uri.TryCreate(apiUrl, UriKind.Absolute, out var uri) && uri.Host is { Length: > 0 } h && h is not ("0.0.0.0" or "[::]" or "*" or "+"))
            hosts.Add(uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.IdnHost.Trim('[', ']')}]" : uri.Host);
        hosts.AddRange(AllowedHosts);
        return hosts.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
    }
}
