using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Audit;
using SiteRecovery.Contracts.Control;

namespace SiteRecovery.Node.Access;

/// <summary>
/// Where audit entries go: the journal (<see cref="ApiAuditLog"/>) on a node with the configuration role, and the
/// node's log for a refusal (a security event an operator watching the log should see) or on a node without a journal.
/// </summary>
public sealed class ApiAudit(ActorRegistry registry, NodeOptions options, ILogger<ApiAudit> log)
{
    public void Record(ApiCallAudited entry)
    {
        var journaled = options.Roles.HasFlag(NodeRoles.Configuration) && registry.TryGet<ApiAuditLog>(out var auditLog);
        if (journaled) registry.Get<ApiAuditLog>().Tell(entry);
        if (entry.Refusal is not null)
            log.LogWarning("{Message}", $"security: {entry.Method} {entry.Path} from {entry.Source} refused ({entry.Status}, {entry.Refusal}) for {entry.Caller} [{entry.TokenId}]");
        else if (!journaled)
            log.LogInformation("{Message}", $"audit: {entry.Method} {entry.Path} from {entry.Source} by {entry.Caller} [{entry.TokenId}] -> {entry.Status}");
    }
}
