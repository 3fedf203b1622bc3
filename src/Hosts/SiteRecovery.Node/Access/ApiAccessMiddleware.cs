using Microsoft.AspNetCore.Routing;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Every request passes here after routing: a source over its failed-authentication budget is answered 429; otherwise
/// the endpoint's rule (<see cref="ApiAccessTable"/>) decides whether it needs a bearer token and which role; the
/// caller is attached for the endpoint (<see cref="ApiCaller"/>). A state-changing call, and any refused call, becomes an
/// audit entry once answered.
/// </summary>
public sealed class ApiAccessMiddleware(RequestDelegate next, ApiTokenStore tokens, FailedAuthentications failures, ApiAudit audit, NodeOptions options)
{
    /// <summary>Endpoints whose own credential is a proof (of the passphrase, of a certificate's key): a refusal there is a failed authentication too.</summary>
    static readonly HashSet<string> ProofRoutes = ["/api/configuration-servers/{id}/challenges", "/api/configuration-servers/{id}/components",
        "/api/site-authority/challenges", "/api/site-authority/renew", "/api/machines/{id}/placement"];

    public async Task InvokeAsync(HttpContext http)
    {
        var route = ApiAccessTable.Normalize((http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText);
        var method = http.Request.Method;
        var source = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var rule = ApiAccessTable.For(method, route);
        var caller = ApiCaller.Anonymous;
        string? refusal = null;

        if (failures.LockedOut(source) && (!rule.Anonymous || ProofRoutes.Contains(route!)))
        {
            refusal = "too many failed authentications";
            http.Response.Headers.RetryAfter = ((int)Math.Ceiling(failures.Window.TotalSeconds)).ToString();
            await Refuse(http, StatusCodes.Status429TooManyRequests, $"{source} failed to authenticate too often; try again within {failures.Window.TotalSeconds:0} s");
        }
        else if (rule.Anonymous)
        {
            await next(http);
            if (route is not null && ProofRoutes.Contains(route) && http.Response.StatusCode is >= 400 and < 500)
            {
                refusal = "proof refused";
                failures.Record(source);
            }
        }
        else if (Bearer(http) is not { } presented)
        {
            refusal = "no token";
            http.Response.Headers.WWWAuthenticate = "Bearer";
            await Refuse(http, StatusCodes.Status401Unauthorized,
                $"{method} {http.Request.Path} needs a bearer token with the {ApiRoles.Name(rule.Role!.Value)} role (Authorization: Bearer srt_...; srctl --token-file)");
        }
        else
        {
            var (token, why) = tokens.Verify(presented);
            if (token is null)
            {
                refusal = $"token {why.ToString()!.ToLowerInvariant()}";
                failures.Record(source);
                http.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                await Refuse(http, StatusCodes.Status401Unauthorized, why switch
                {
                    TokenRefusal.Expired => "the bearer token has expired",
                    TokenRefusal.Revoked => "the bearer token has been revoked",
                    _ => "the bearer token is not valid on this node",
                });
            }
            else
            {
                caller = new ApiCaller(token.Id, token.Name, token.Role);
                caller.AttachTo(http);
                if (!token.Role.Allows(rule.Role!.Value))
                {
                    refusal = "role";
                    await Refuse(http, StatusCodes.Status403Forbidden,
                        $"{method} {http.Request.Path} needs the {ApiRoles.Name(rule.Role!.Value)} role; token '{token.Name}' has {ApiRoles.Name(token.Role)}");
                }
                else
                {
                    await next(http);
                    if (http.Items.ContainsKey(ApiCaller.RefusalKey)) refusal = "role";
                }
            }
        }

        if (refusal is not null || !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)))
            audit.Record(new ApiCallAudited(options.NodeId, caller.TokenId, caller.Name, caller.Role is { } r ? ApiRoles.Name(r) : null, source, method,
                http.Request.Path.Value ?? "", http.Response.StatusCode, refusal, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    static string? Bearer(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }

    static Task Refuse(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new Api.ApiError(message));
    }
}
