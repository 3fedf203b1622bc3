using SiteRecovery.Node.Access;

namespace SiteRecovery.Node.Api;

/// <summary>POST /api/tokens: the one answer that carries a token's text; it is not kept anywhere.</summary>
public sealed record TokenCreated(string Id, string Name, string Role, long? ExpiresUnixMs, string Token);
public sealed record TokenListItem(string Id, string Name, string Role, long CreatedUnixMs, long? ExpiresUnixMs, long? RevokedUnixMs);
public sealed record AccessRuleItem(string Method, string Route, string Role);
public sealed record CreateTokenBody(string? Name, string? Role, long? ExpiresInSeconds);

/// <summary>The node's API tokens (admin only, see <see cref="ApiAccessTable"/>) and the one anonymous probe.</summary>
public static class TokenEndpoints
{
    public static void Map(WebApplication app, NodeOptions options)
    {
        app.MapGet("/api/health", () => Results.Ok(new { status = "ok", node = options.NodeId }));

        // What each role may call, as the node enforces it: for portals that grey out what a user cannot do, and for audits.
        app.MapGet("/api/access", () => Results.Ok(ApiAccessTable.Rules.OrderBy(r => r.Key.Route, StringComparer.Ordinal).ThenBy(r => r.Key.Method, StringComparer.Ordinal)
            .Select(r => new AccessRuleItem(r.Key.Method, r.Key.Route, r.Value.Role is { } role ? ApiRoles.Name(role) : "anonymous")).ToList()));

        app.MapGet("/api/tokens", (ApiTokenStore store) => Results.Ok(store.List().Select(t =>
            new TokenListItem(t.Id, t.Name, ApiRoles.Name(t.Role), t.CreatedUnixMs, t.ExpiresUnixMs, t.RevokedUnixMs)).ToList()));

        app.MapPost("/api/tokens", (CreateTokenBody body, ApiTokenStore store) =>
        {
            if (!ApiRoles.TryParse(body.Role, out var role))
                return Results.BadRequest(new ApiError($"role: '{body.Role}' is not a role; one of {string.Join(", ", ApiRoles.Names)}"));
            if (body.ExpiresInSeconds is <= 0)
                return Results.BadRequest(new ApiError($"expiresInSeconds: {body.ExpiresInSeconds} must be positive (leave it out for a token that does not expire)"));
            try
            {
                var (token, text) = store.Create(body.Name, role, body.ExpiresInSeconds is { } s ? TimeSpan.FromSeconds(s) : null);
                return Results.Ok(new TokenCreated(token.Id, token.Name, ApiRoles.Name(token.Role), token.ExpiresUnixMs, text));
            }
            catch (ArgumentException e) { return Results.BadRequest(new ApiError(e.Message)); }
        });

        app.MapDelete("/api/tokens/{id}", (string id, ApiTokenStore store) =>
        {
            return store.Revoke(id) switch
            {
                RevokeOutcome.Revoked => Results.Ok(new { revoked = id }),
                RevokeOutcome.LastAdmin => Results.Conflict(new ApiError($"token {id} is the last live admin token; create another admin token before revoking it")),
                _ => Results.NotFound(new ApiError($"no token {id} on this node")),
            };
        });
    }
}
