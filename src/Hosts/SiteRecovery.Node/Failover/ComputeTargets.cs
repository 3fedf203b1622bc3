using SiteRecovery.Compute;
using SiteRecovery.Compute.Azure;
using SiteRecovery.Compute.Local;

namespace SiteRecovery.Node.Failover;

/// <summary>
/// The compute targets of this node, by the name a machine's failover properties give (<c>Target</c>): <c>local</c>
/// always, <c>azure</c> when <c>siterecovery.failover.azure-target</c> is configured. A name that is not here is refused,
/// naming it and what the node has, before a failover starts anything.
/// </summary>
public sealed class ComputeTargets
{
    /// <summary>Every target name this build knows, configured or not.</summary>
    public static readonly IReadOnlyList<string> Known = [LocalQemuTarget.TargetName, AzureComputeTarget.TargetName];

    readonly IReadOnlyDictionary<string, IComputeTarget> _targets;

    public ComputeTargets(IComputeTarget local, IComputeTarget? azure = null)
    {
        var targets = new Dictionary<string, IComputeTarget>(StringComparer.Ordinal) { [local.Name] = local };
        if (azure is not null) targets[azure.Name] = azure;
        _targets = targets;
        Local = local;
    }

    /// <summary>The node's own qemu target.</summary>
    public IComputeTarget Local { get; }

    /// <summary>Every configured target (a leftover search asks each).</summary>
    public IEnumerable<IComputeTarget> All => _targets.Values;

    /// <summary>This node's targets from its failover settings.</summary>
    public static ComputeTargets Create(FailoverSettings settings, Action<string> log)
    {
        var local = new LocalQemuTarget(new LocalTargetOptions());
        if (settings.Azure is not { } azure) return new ComputeTargets(local);
        var credential = azure.Credential();
        log($"compute target azure: subscription {azure.Options.SubscriptionId}, resource group {azure.Options.ResourceGroup} in {azure.Options.Location}, "
            + $"{azure.Options.Endpoint}, token from {credential.Source}");
        return new ComputeTargets(local, new AzureComputeTarget(azure.Options, credential, azure.Transport(), log));
    }

    /// <summary>Why <paramref name="name"/> names no target of this node, or null.</summary>
    public string? Problem(string name) =>
        _targets.ContainsKey(name) ? null
        : Known.Contains(name) ? $"compute target '{name}' is not configured on this node (set {AzureTargetSettings.Root}; configured: {string.Join(", ", _targets.Keys)})"
        : $"compute target '{name}' is unknown (this node has: {string.Join(", ", _targets.Keys)})";

    /// <summary>The target named <paramref name="name"/>; <see cref="InvalidOperationException"/> naming it when there is none.</summary>
    public IComputeTarget Get(string name) =>
        _targets.TryGetValue(name, out var target) ? target : throw new InvalidOperationException(Problem(name));
}
