namespace SiteRecovery.Node.Access;

/// <summary>Who made the current request, as <see cref="ApiAccessMiddleware"/> authenticated them (anonymous on an open endpoint).</summary>
public sealed record ApiCaller(string TokenId, string Name, ApiRole? Role)
{
    public static ApiCaller Anonymous { get; } = new("-", "anonymous", null);

    static readonly object Key = new();

    public static ApiCaller Of(HttpContext http) => http.Items.TryGetValue(Key, out var c) && c is ApiCaller caller ? caller : Anonymous;

    internal void AttachTo(HttpContext http) => http.Items[Key] = this;

    /// <summary>
    /// For an endpoint whose need depends on its body (a test failover is an operator's, a planned one a recovery
    /// admin's): null when the caller may, else the 403 to answer.
    /// </summary>
    public static IResult? Demand(HttpContext http, ApiRole needed, string what)
    {
        var caller = Of(http);
        if (caller.Role is { } held && held.Allows(needed)) return null;
        http.Items[RefusalKey] = "role";
        return Results.Json(new Api.ApiError($"{what} needs the {ApiRoles.Name(needed)} role; token '{caller.Name}' has {(caller.Role is { } r ? ApiRoles.Name(r) : "none")}"),
            statusCode: StatusCodes.Status403Forbidden);
    }

    internal static readonly object RefusalKey = new();
}
