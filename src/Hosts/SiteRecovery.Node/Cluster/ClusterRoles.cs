namespace SiteRecovery.Node.Cluster;

/// <summary>The node's roles as cluster roles: what its <c>--roles</c> run, and <c>api</c>, which every node serves.</summary>
public static class ClusterRoles
{
    public const string Configuration = "configuration";
    public const string ProcessServer = "process-server";
    public const string MasterTarget = "master-target";
    public const string Api = "api";

    public static IReadOnlyList<string> Of(NodeRoles roles)
    {
        var names = new List<string>();
        if (roles.HasFlag(NodeRoles.Configuration)) names.Add(Configuration);
        if (roles.HasFlag(NodeRoles.ProcessServer)) names.Add(ProcessServer);
        if (roles.HasFlag(NodeRoles.MasterTarget)) names.Add(MasterTarget);
        names.Add(Api);
        return names;
    }
}
