using Akka.Actor;
using Akka.Hosting;
using SiteRecovery.Actors.Control;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Node;

/// <summary>
/// The other nodes' process servers and master targets a configuration node places machines on
/// (<c>siterecovery.data-path.placement</c>): registered with the control plane at start, so placement may choose them,
/// and the process servers' data-path addresses, which a placed agent is told. A process server not listed here (nor
/// this node's own) cannot be placed on: the control plane would not know where its agents connect.
/// </summary>
public sealed class PlacementTargets
{
    const string Root = "siterecovery.data-path.placement";

    public IReadOnlyDictionary<string, string> ProcessServers { get; }
    public IReadOnlyList<string> MasterTargets { get; }

    PlacementTargets(IReadOnlyDictionary<string, string> processServers, IReadOnlyList<string> masterTargets) =>
        (ProcessServers, MasterTargets) = (processServers, masterTargets);

    /// <summary>The settings, checked: a bad id or address stops the node naming its key.</summary>
    public static PlacementTargets From(Akka.Configuration.Config c)
    {
        var processServers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (c.HasPath($"{Root}.process-servers"))
            foreach (var (id, value) in c.GetConfig($"{Root}.process-servers").AsEnumerable())
            {
                var key = $"{Root}.process-servers.{id}";
                if (!SiteRecovery.Contracts.Storage.PathNames.IsOneComponent(id)) throw new ArgumentException($"{key}: '{id}' is not a component id");
                var text = value.GetString();
                try { HostPort.Parse(key, text); }
                catch (Exception e) when (e is ArgumentException or System.Net.Sockets.SocketException) { throw new ArgumentException($"{key}: {e.Message}"); }
                processServers[id] = text;
            }
        var masterTargets = c.HasPath($"{Root}.master-targets") ? c.GetStringList($"{Root}.master-targets").ToList() : [];
        if (masterTargets.FirstOrDefault(id => !SiteRecovery.Contracts.Storage.PathNames.IsOneComponent(id)) is { } bad)
            throw new ArgumentException($"{Root}.master-targets: '{bad}' is not a component id");
        return new PlacementTargets(processServers, masterTargets);
    }

    /// <summary>
    /// The process server machine <paramref name="machineId"/>'s disks are placed on, or null when it is not placed
    /// (the rule an agent is told by, <see cref="SiteRecovery.Connections.AgentPlacement.Of"/>).
    /// </summary>
    public static async Task<string?> PlacedOnAsync(ActorRegistry registry, string machineId, CancellationToken ct)
    {
        var view = await registry.Get<ProtectedMachinesRegion>().Ask<ProtectedMachineView>(new GetProtectedMachine(machineId), TimeSpan.FromSeconds(15), ct);
        return SiteRecovery.Connections.AgentPlacement.Of(machineId, view, id => id).ProcessServerId;
    }

    /// <summary>Registers every listed process server and master target with the control plane (already registered: nothing).</summary>
    public async Task RegisterAsync(ActorRegistry registry, Action<string> log)
    {
        var timeout = TimeSpan.FromSeconds(60);
        foreach (var id in ProcessServers.Keys)
            if (await registry.Get<ProcessServersRegion>().Ask<CommandResult>(new RegisterProcessServer(id, $"remote:{id}", 600L << 30, 200), timeout)
                is CommandResult.Rejected { Reason: not RejectionReason.AlreadyRegistered } r)
                log($"placement: process server {id} not registered: {r.Message}");
        foreach (var id in MasterTargets)
            if (await registry.Get<MasterTargetsRegion>().Ask<CommandResult>(new RegisterMasterTarget(id, TargetOs.Linux, 32), timeout)
                is CommandResult.Rejected { Reason: not RejectionReason.AlreadyRegistered } r)
                log($"placement: master target {id} not registered: {r.Message}");
        if (ProcessServers.Count + MasterTargets.Count > 0)
            log($"placement: other nodes' process servers {string.Join(", ", ProcessServers.Select(p => $"{p.Key} at {p.Value}"))}; master targets {string.Join(", ", MasterTargets)}");
    }
}

/// <summary>Registers <see cref="PlacementTargets"/> with the control plane when the node starts (configuration role only).</summary>
public sealed class PlacementTargetsRegistration(NodeOptions options, PlacementTargets targets, ActorRegistry registry, ILogger<PlacementTargetsRegistration> logger) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => options.Roles.HasFlag(NodeRoles.Configuration)
        ? targets.RegisterAsync(registry, m => logger.LogInformation("{Message}", m))
        : Task.CompletedTask;

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
}
