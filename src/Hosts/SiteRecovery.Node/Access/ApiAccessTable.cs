namespace SiteRecovery.Node.Access;

/// <summary>
/// Who may call what: every endpoint of the API by method and route, and the least role it needs. One table, so what a
/// role can do is read in one place. An endpoint missing here needs <see cref="ApiRole.Admin"/> (a new endpoint is closed
/// until it is placed), and <see cref="Check"/> stops the node at start-up until every mapped endpoint has its line
/// and every line its endpoint, so the table cannot drift from the API.
/// </summary>
public static class ApiAccessTable
{
    /// <summary>What an endpoint asks of its caller: a role, or nothing at all.</summary>
    public sealed record Rule(ApiRole? Role, string Why = "")
    {
        public bool Anonymous => Role is null;
    }

    static Rule Anyone(string why) => new(null, why);
    static readonly Rule Reader = new(ApiRole.Reader);
    static readonly Rule Operator = new(ApiRole.Operator);
    static readonly Rule RecoveryAdmin = new(ApiRole.RecoveryAdmin);
    static readonly Rule Admin = new(ApiRole.Admin);

    public static IReadOnlyDictionary<(string Method, string Route), Rule> Rules { get; } = new Dictionary<(string, string), Rule>
    {
        [("GET", "/api/health")] = Anyone("a load balancer's or a harness's liveness probe; answers nothing about the site"),
        // A component proves the configuration server's passphrase by challenge and response: that proof is its credential.
        [("POST", "/api/configuration-servers/{id}/challenges")] = Anyone("a registering component proves the passphrase instead"),
        [("POST", "/api/configuration-servers/{id}/components")] = Anyone("a registering component proves the passphrase instead"),
        // A component renewing its certificate signs a fresh nonce with that certificate's key: that proof is its credential.
        [("POST", "/api/site-authority/challenges")] = Anyone("a renewing component proves possession of its certificate's key instead"),
        [("POST", "/api/site-authority/renew")] = Anyone("a renewing component proves possession of its certificate's key instead"),
        [("POST", "/api/machines/{id}/placement")] = Anyone("an agent proves possession of its certificate's key instead, and reads its own machine's placement only"),

        [("GET", "/api/access")] = Reader,
        [("GET", "/api/status")] = Reader,
        [("GET", "/api/metrics")] = Reader,
        [("GET", "/api/alerts")] = Reader,
        [("GET", "/api/jobs")] = Reader,
        [("GET", "/api/events")] = Reader,
        [("GET", "/api/rpo")] = Reader,
        [("GET", "/api/group-bookmarks/stalls")] = Reader,
        [("GET", "/api/disks/{id}")] = Reader,
        [("GET", "/api/disks/{id}/retention")] = Reader,
        [("GET", "/api/disks/{id}/writer")] = Reader,
        [("GET", "/api/vaults")] = Reader,
        [("GET", "/api/vaults/{name}")] = Reader,
        [("GET", "/api/configuration-servers/{id}")] = Reader,
        [("GET", "/api/site-authority")] = Reader,
        [("GET", "/api/site-authority/revoked")] = Reader,
        [("GET", "/api/site-authority/crl")] = Anyone("a certificate revocation list is public, as every CRL (serials and times, signed by the authority); data-path nodes fetch it before they hold any token"),
        [("GET", "/api/protection-groups/{id}")] = Reader,
        [("GET", "/api/machines/{id}")] = Reader,
        [("GET", "/api/machines/{id}/validation")] = Reader,
        [("GET", "/api/machines/{id}/failovers")] = Reader,
        [("GET", "/api/failovers")] = Reader,
        [("GET", "/api/failovers/{id}")] = Reader,
        [("GET", "/api/failovers/{id}/report")] = Reader,
        [("GET", "/api/failovers/{id}/machines/{machine}/console")] = Reader,
        [("GET", "/api/recovery-plans")] = Reader,
        [("GET", "/api/recovery-plans/{id}")] = Reader,
        [("POST", "/api/capacity-plan")] = Reader,
        [("GET", "/api/cluster/members")] = Reader,

        [("POST", "/api/bookmarks")] = Operator,
        [("POST", "/api/protection-groups/{id}/bookmarks")] = Operator,
        [("POST", "/api/group-bookmarks")] = Operator,
        [("POST", "/api/disks/{id}/resync")] = Operator,
        // A test failover is an operator's; the endpoint asks a recovery admin for a planned or unplanned one.
        [("POST", "/api/failovers")] = Operator,
        [("POST", "/api/failovers/{id}/manual-actions/{index:int}/confirm")] = Operator,
        [("POST", "/api/failovers/{id}/steps/{index:int}/retry")] = Operator,
        [("POST", "/api/failovers/{id}/cleanup")] = Operator,
        // A member that leaves or is downed stops its data path and exits: as much an operator's call as stopping the node.
        [("POST", "/api/cluster/leave")] = Operator,
        [("POST", "/api/cluster/down")] = Operator,

        // Whoever reads a point (a file, an export) reads a protected machine's disk; whoever moves machines decides where production runs.
        [("GET", "/api/disks/{id}/exports")] = RecoveryAdmin,
        [("POST", "/api/disks/{id}/exports")] = RecoveryAdmin,
        [("DELETE", "/api/disks/{id}/exports/{exportId}")] = RecoveryAdmin,
        [("POST", "/api/recover")] = RecoveryAdmin,
        // Releasing a disk's writer lets another machine's agent write it (its next recovery point is that machine's disk).
        [("POST", "/api/disks/{id}/writer/release")] = RecoveryAdmin,
        [("POST", "/api/disks/{id}/writer/keep")] = RecoveryAdmin,
        [("POST", "/api/returns")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/steps/{index:int}/skip")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/commit")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/rollback")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/change-point")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/reprotect")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/failback")] = RecoveryAdmin,
        [("POST", "/api/failovers/{id}/return")] = RecoveryAdmin,
        [("POST", "/api/recovery-plans")] = RecoveryAdmin,
        [("PUT", "/api/recovery-plans/{id}")] = RecoveryAdmin,
        [("PUT", "/api/recovery-plans/{id}/drill-schedule")] = RecoveryAdmin,
        [("DELETE", "/api/recovery-plans/{id}")] = RecoveryAdmin,

        [("POST", "/api/vaults")] = Admin,
        [("POST", "/api/vaults/{name}/keys")] = Admin,
        [("POST", "/api/configuration-servers")] = Admin,
        [("POST", "/api/configuration-servers/{id}/passphrase")] = Admin,
        [("DELETE", "/api/configuration-servers/{id}/components/{componentId}")] = Admin,
        [("POST", "/api/protection-groups")] = Admin,
        [("PUT", "/api/protection-groups/{id}/settings")] = Admin,
        [("POST", "/api/protection-groups/{id}/machines/{machine}")] = Admin,
        [("POST", "/api/machines")] = Admin,
        [("POST", "/api/machines/{id}/enable")] = Admin,
        [("POST", "/api/machines/{id}/failover-properties")] = Admin,
        [("GET", "/api/tokens")] = Admin,
        [("POST", "/api/tokens")] = Admin,
        [("DELETE", "/api/tokens/{id}")] = Admin,
    };

    /// <summary>Throws, naming them, when a mapped endpoint has no rule or a rule names no endpoint.</summary>
    public static void Check(IEnumerable<Microsoft.AspNetCore.Http.Endpoint> endpoints)
    {
        var mapped = new HashSet<(string, string)>();
        foreach (var e in endpoints.OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>())
            foreach (var m in e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>()?.HttpMethods ?? ["*"])
                mapped.Add((m, Normalize(e.RoutePattern.RawText) ?? ""));
        var unruled = mapped.Where(k => !Rules.ContainsKey(k)).Select(k => $"{k.Item1} {k.Item2}").ToList();
        var stale = Rules.Keys.Where(k => !mapped.Contains(k)).Select(k => $"{k.Method} {k.Route}").ToList();
        if (unruled.Count > 0 || stale.Count > 0)
            throw new InvalidOperationException("the API's access table does not match its endpoints: " +
                (unruled.Count > 0 ? $"no rule for {string.Join(", ", unruled)}" : "") + (unruled.Count > 0 && stale.Count > 0 ? "; " : "") +
                (stale.Count > 0 ? $"rules for no endpoint: {string.Join(", ", stale)}" : ""));
    }

    /// <summary>The rule for a request that routed to <paramref name="route"/>; admin for anything not in the table, and for no route at all.</summary>
    public static Rule For(string method, string? route) =>
        Normalize(route) is { } r && Rules.TryGetValue((method.ToUpperInvariant(), r), out var rule) ? rule : Admin;

    /// <summary>A group's own endpoint (<c>MapGroup("/api/failovers").MapPost("")</c>) has a trailing slash in its pattern.</summary>
    public static string? Normalize(string? route) => route is { Length: > 1 } && route.EndsWith('/') ? route.TrimEnd('/') : route;
}
