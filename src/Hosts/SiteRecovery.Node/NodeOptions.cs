using System.Net;
using SiteRecovery.Actors.Hosting;

namespace SiteRecovery.Node;

/// <summary>The roles one node process can run; "all" is every one of them.</summary>
[Flags]
public enum NodeRoles
{
    None = 0,
    Configuration = 1,
    ProcessServer = 2,
    MasterTarget = 4,
    All = Configuration | ProcessServer | MasterTarget,
}

/// <summary>Everything a node needs, validated from the command line.</summary>
public sealed record NodeOptions(
    string NodeId,
    NodeRoles Roles,
    string DataDirectory,
    IPEndPoint ProcessServerListen,
    IPEndPoint MasterTargetListen,
    EndPoint MasterTargetEndpoint,
    string ApiUrl,
    PersistenceSettings Persistence,
    Akka.Configuration.Config DataPath)
{
    /// <summary>When set, the node's data-path roles register with a configuration server at start-up.</summary>
    public ComponentRegistrationSettings? Registration { get; init; }

    /// <summary>Disks whose replica the master target keeps in an existing file (<c>--replica-file</c>, see <see cref="Node.ReplicaFiles"/>).</summary>
    public IReadOnlyDictionary<string, string> ReplicaFiles { get; init; } = new Dictionary<string, string>();

    public static NodeRoles ParseRoles(string text)
    {
        var roles = NodeRoles.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "all" => NodeRoles.All,
                "configuration" or "config" => NodeRoles.Configuration,
                "process-server" or "ps" => NodeRoles.ProcessServer,
                "master-target" or "mt" => NodeRoles.MasterTarget,
                _ => throw new ArgumentException($"--roles: '{part}' is not a role (all, configuration, process-server, master-target)"),
            };
        }
        if (roles == NodeRoles.None) throw new ArgumentException("--roles: no role given (all, configuration, process-server, master-target)");
        return roles;
    }
}
