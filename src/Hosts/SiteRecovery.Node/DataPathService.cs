using Akka.Actor;
using Akka.Hosting;
using Akka.Streams;
using SiteRecovery.Actors.Control;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Storage;

namespace SiteRecovery.Node;

/// <summary>Starts the data-path roles of this node (master target, process server) once the actor system is up.</summary>
public sealed class DataPathService(NodeOptions options, ActorSystem system, ActorRegistry registry, ILogger<DataPathService> logger) : IHostedService
{
    // The first command to an aggregate replays its journal; on a loaded 2-core machine that took more than 10 s, and a
    // node must not give up starting for it.
    static readonly TimeSpan StartupAskTimeout = TimeSpan.FromSeconds(60);

    public MasterTargetServer? Target { get; private set; }
    public ProcessServer? Process { get; private set; }
    /// <summary>Replication lag of every delta made durable at this node's master target.</summary>
    public LagHistogram Lag { get; } = new();
    public string MasterTargetId => options.NodeId + "-mt";
    public string ProcessServerId => options.NodeId + "-ps";

    void Log(string m) => logger.LogInformation("{Message}", m);

    /// <summary>The site's revoked certificates, which both listeners refuse (kept current by <see cref="Access.RevocationListRefresh"/>).</summary>
    public RevokedCertificates Revoked { get; } = new();

    /// <summary>Ends the live sessions, at both listeners, of the certificates with these serials (newly revoked).</summary>
    public void CloseRevoked(IReadOnlyList<string> serials)
    {
        var set = serials.ToHashSet(StringComparer.OrdinalIgnoreCase);
        const string why = "its certificate was revoked";
        Process?.CloseSessions(p => set.Contains(p.SerialHex), why);
        Target?.CloseSessions(p => set.Contains(p.SerialHex), why);
    }

    /// <summary>A role's key and certificates, where registration keeps them (<see cref="ComponentRegistration"/>).</summary>
    HopCredentials Credentials(string componentId) => new(Path.Combine(options.DataDirectory, "keys", "components", componentId));

    public async Task StartAsync(CancellationToken ct)
    {
        var config = options.Roles.HasFlag(NodeRoles.Configuration);
        if (options.Registration is { } registration)
        {
            var components = new List<(string, SiteRecovery.Contracts.Control.ComponentKind)>();
            if (options.Roles.HasFlag(NodeRoles.ProcessServer)) components.Add((ProcessServerId, SiteRecovery.Contracts.Control.ComponentKind.ProcessServer));
            if (options.Roles.HasFlag(NodeRoles.MasterTarget)) components.Add((MasterTargetId, SiteRecovery.Contracts.Control.ComponentKind.MasterTarget));
            await ComponentRegistration.RegisterAsync(registration, components, Path.Combine(options.DataDirectory, "keys", "components"), Log, ct);
        }
        IDataPathEvents events = config
            ? new ActorDataPathEvents(registry.Get<ProtectedDisksRegion>(), registry.Get<MasterTargetsRegion>(), MasterTargetId, Log)
            : new NoDataPathEvents();
        if (options.Roles.HasFlag(NodeRoles.MasterTarget))
        {
            var dir = Path.Combine(options.DataDirectory, "master-target");
            // Replicas, journals and overlays live below: private before the master target creates anything there.
            PrivateFiles.CreateDirectory(dir);
            if (config)
            {
                var r = await registry.Get<MasterTargetsRegion>().Ask<CommandResult>(new RegisterMasterTarget(MasterTargetId, TargetOs.Linux, 32), StartupAskTimeout);
                if (r is CommandResult.Rejected { Reason: not RejectionReason.AlreadyRegistered } rej) Log($"master target registration: {rej.Message}");
            }
            var targetOptions = DataPathSettings.Apply(options.DataPath, new MasterTargetOptions(MasterTargetId, options.MasterTargetListen, dir) { LagObserver = (_, samples) => Lag.Record(samples) }) with
            {
                ListenTls = new HopListenerTls(DataPathSettings.TlsMode(options.DataPath, "master-target"), Credentials(MasterTargetId), ComponentKind.ProcessServer, Revoked.Check),
            };
            Target = new MasterTargetServer(targetOptions, ReplicaStores.Create(options.DataPath, dir, MasterTargetId, options.ReplicaFiles, Log), events, Log, system);
            foreach (var (disk, file) in options.ReplicaFiles) Log($"master target: disk {disk}'s replica is the existing file {file} (--replica-file)");
            await Target.StartAsync();
            Log($"master target {MasterTargetId} listening on {Target.BoundEndpoint}");
        }
        if (options.Roles.HasFlag(NodeRoles.ProcessServer))
        {
            var cache = Path.Combine(options.DataDirectory, "process-server", "cache");
            // The spool holds the agents' writes: private before the process server creates anything there.
            PrivateFiles.CreateDirectory(cache);
            if (config)
            {
                var r = await registry.Get<ProcessServersRegion>().Ask<CommandResult>(new RegisterProcessServer(ProcessServerId, cache, 600L << 30, 200), StartupAskTimeout);
                if (r is CommandResult.Rejected { Reason: not RejectionReason.AlreadyRegistered } rej) Log($"process server registration: {rej.Message}");
            }
            var pin = DataPathSettings.MasterTargetPin(options.DataPath) ?? (options.Roles.HasFlag(NodeRoles.MasterTarget) ? MasterTargetId : null);
            var processOptions = DataPathSettings.Apply(options.DataPath, new ProcessServerOptions(ProcessServerId, options.ProcessServerListen, cache, options.MasterTargetEndpoint)) with
            {
                ListenTls = new HopListenerTls(DataPathSettings.TlsMode(options.DataPath, "process-server"), Credentials(ProcessServerId), ComponentKind.Agent, Revoked.Check),
                MasterTargetTls = new HopClientTls(Credentials(ProcessServerId), new ExpectedPeer(ComponentKind.MasterTarget, pin)),
            };
            Process = new ProcessServer(processOptions, system.Materializer(), Log, events);
            // Beside the configuration role it knows the placements: a machine placed on another process server is refused.
            if (config) Process.PlacedOn = (machine, token) => PlacementTargets.PlacedOnAsync(registry, machine, token);
            await Process.StartAsync();
            Log($"process server {ProcessServerId} listening on {Process.BoundEndpoint}, forwarding to {options.MasterTargetEndpoint}");
        }
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (Process is not null) await Process.DisposeAsync();
        if (Target is not null) await Target.DisposeAsync();
    }
}
