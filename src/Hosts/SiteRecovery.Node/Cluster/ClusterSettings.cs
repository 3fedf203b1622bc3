using System.Net;
using Akka.Configuration;

namespace SiteRecovery.Node.Cluster;

/// <summary>A cluster address as an operator writes it: HOST:PORT, the host kept as given (Akka matches it literally).</summary>
public sealed record ClusterEndpoint(string Host, int Port)
{
    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>The Akka address of the node listening here, in the node's actor system.</summary>
    public Akka.Actor.Address Address(string system) => new("akka.tcp", system, Host, Port);

    /// <summary>Parses HOST:PORT (an IPv6 host in brackets); the error names <paramref name="what"/> and the value.</summary>
    public static ClusterEndpoint Parse(string what, string text)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new ArgumentException($"{what} '{text}' is not HOST:PORT");
        var host = text[..colon];
        var bracketed = host.StartsWith('[') && host.EndsWith(']');
        if (bracketed) host = host[1..^1];
        if (host.Length == 0 || host.Contains(':') && (!bracketed || !IPAddress.TryParse(host, out _)))
            throw new ArgumentException($"{what} '{text}' is not HOST:PORT (an IPv6 address goes in brackets)");
        return new ClusterEndpoint(host, port);
    }
}

/// <summary>
/// Where the node's remoting listens and which nodes it joins (<c>hocon/cluster.hocon</c>, overridden by <c>--config</c>,
/// then by <c>--cluster-listen</c> / <c>--cluster-seed</c>), checked at start-up. No seed: the node joins itself.
/// </summary>
public sealed record ClusterSettings(ClusterEndpoint Listen, IReadOnlyList<ClusterEndpoint> Seeds)
{
    const string Root = "siterecovery.cluster";

    /// <summary>The actor system's name: part of every cluster address, the same on every node.</summary>
    public const string SystemName = "siterecovery";

    public bool JoinsItself => Seeds.Count == 0;

    public static ClusterSettings Load(string? overridePath, string? listenFlag, IReadOnlyList<string> seedFlags, bool listenAny)
    {
        var defaults = Path.Combine(AppContext.BaseDirectory, "hocon", "cluster.hocon");
        if (!File.Exists(defaults)) throw new ArgumentException($"configuration file '{defaults}' is missing");
        var c = ConfigurationFactory.ParseString(File.ReadAllText(defaults));
        if (overridePath is not null) c = ConfigurationFactory.ParseString(File.ReadAllText(overridePath)).WithFallback(c);
        var listen = listenFlag is not null
            ? ClusterEndpoint.Parse("--cluster-listen", listenFlag)
            : ClusterEndpoint.Parse($"{Root}.listen", c.GetString($"{Root}.listen") ?? "");
        var seeds = seedFlags.Count > 0
            ? seedFlags.Select(s => ClusterEndpoint.Parse("--cluster-seed", s)).ToList()
            : (c.GetStringList($"{Root}.seed-nodes") ?? []).Select(s => ClusterEndpoint.Parse($"{Root}.seed-nodes", s)).ToList();
        var where = listenFlag is not null ? "--cluster-listen" : $"{Root}.listen";
        if (IPAddress.TryParse(listen.Host, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
            throw new ArgumentException($"{where} '{listen}': other nodes cannot reach a node at {listen.Host}; give the node's own address");
        if (!listenAny && !IsLoopback(listen.Host))
            throw new ArgumentException($"{where} '{listen}' is beyond loopback, and cluster links are neither encrypted nor authenticated yet: " +
                "add --cluster-listen-any to accept that (on a network only the site's nodes reach)");
        return new ClusterSettings(listen, seeds);
    }

    static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
}
