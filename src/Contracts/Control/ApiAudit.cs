namespace SiteRecovery.Contracts.Control;

/// <summary>
/// One call to the node's HTTP API that changed, or tried to change, something; or any call refused for its
/// credentials. Who (the token's id and name, never its secret; "anonymous" without one), from where, what (method and
/// path; never the body, which may hold a passphrase), when, and the outcome (the HTTP status, and the refusal's reason).
/// </summary>
[Manifest("api-call-audited.v1")]
public sealed record ApiCallAudited(
    string NodeId,
    string TokenId,
    string Caller,
    string? Role,
    string Source,
    string Method,
    string Path,
    int Status,
    string? Refusal,
    long AtUnixMs) : IControlEvent;
