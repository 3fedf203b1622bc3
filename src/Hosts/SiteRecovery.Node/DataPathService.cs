using System.Net;
using System.Net.Sockets;
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
public sealed class DataPathService(NodeOptions options, ActorSystem system, ActorRegistry registry, Access.NodeCertificates certificates, ILogger<DataPathService> logger)
    : IHostedService
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

    /// <summary>The data-path components this node runs: its process server and master target roles.</summary>
    public IReadOnlyList<(string Id, ComponentKind Kind)> LocalComponents
    {
        get
        {
            var components = new List<(string, ComponentKind)>();
            if (options.Roles.HasFlag(NodeRoles.ProcessServer)) components.Add((ProcessServerId, ComponentKind.ProcessServer));
            if (options.Roles.HasFlag(NodeRoles.MasterTarget)) components.Add((MasterTargetId, ComponentKind.MasterTarget));
            return components;
        }
    }

    /// <summary>
    /// On a node that is the site's authority and did not register elsewhere: certifies its own roles' keys (made if
    /// missing) where registration would keep them, unless their certificates are current (<see cref="Access.NodeCertificates.IssueIfDue"/>).
    /// At start and at each renewal check (<see cref="ComponentCertificateRenewal"/>); a listener reads its files at every accept.
    /// </summary>
    public void CertifyLocal(DateTimeOffset now)
    {
        foreach (var (id, kind) in LocalComponents) certificates.IssueIfDue(Credentials(id).Directory, id, kind, now);
    }

    /// <summary>
    /// A data-path listener that serves plain connections is named at every start: <c>required</c> is the secure setting,
    /// <c>optional</c> and <c>off</c> stay for a site that is being upgraded (its agents not registered yet).
    /// </summary>
    void WarnUnlessTlsRequired()
    {
        foreach (var (role, listener) in new[] { (NodeRoles.ProcessServer, "process-server"), (NodeRoles.MasterTarget, "master-target") })
        {
            if (!options.Roles.HasFlag(role)) continue;
            var mode = DataPathSettings.TlsMode(options.DataPath, listener);
            if (mode != HopTlsMode.Required)
                logger.LogWarning("{Message}", $"siterecovery.data-path.tls.{listener} = {mode.ToString().ToLowerInvariant()}: the {listener.Replace('-', ' ')} accepts " +
                    (mode == HopTlsMode.Off ? "plain connections only" : "plain connections from components without a certificate") +
                    ", unauthenticated and unencrypted; set it to required once every component of the site holds a certificate");
        }
    }

    /// <summary>
    /// Where the process server reaches the master target of this same node: a Unix socket in the master target's private
    /// folder, when this node runs both roles and the process server forwards to this master target (not through another
    /// address, such as a test's fault proxy). Null otherwise, or when the path is too long for a Unix socket.
    /// </summary>
    string? LocalHop =>
        options.Roles.HasFlag(NodeRoles.MasterTarget) && options.Roles.HasFlag(NodeRoles.ProcessServer) && options.MasterTargetEndpoint.Equals(options.MasterTargetListen)
        && Path.Combine(options.DataDirectory, "master-target", "local-hop.sock") is var path && SessionListener.FitsLocalSocket(path)
            ? path : null;

    public async Task StartAsync(CancellationToken ct)
    {
        var config = options.Roles.HasFlag(NodeRoles.Configuration);
        var components = LocalComponents;
        if (options.Registration is { } registration)
            await ComponentRegistration.RegisterAsync(registration, components, Path.Combine(options.DataDirectory, "keys", "components"), Log, ct);
        else if (certificates.IsAuthority)
            CertifyLocal(DateTimeOffset.UtcNow);
        WarnUnlessTlsRequired();
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
                LocalListen = LocalHop,
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
            EndPoint forwardTo = LocalHop is { } local ? new UnixDomainSocketEndPoint(local) : options.MasterTargetEndpoint;
            var processOptions = DataPathSettings.Apply(options.DataPath, new ProcessServerOptions(ProcessServerId, options.ProcessServerListen, cache, forwardTo)) with
            {
                ListenTls = new HopListenerTls(DataPathSettings.TlsMode(options.DataPath, "process-server"), Credentials(ProcessServerId), ComponentKind.Agent, Revoked.Check),
                MasterTargetTls = new HopClientTls(Credentials(ProcessServerId), new ExpectedPeer(ComponentKind.MasterTarget, pin)),
            };
            Process = new ProcessServer(processOptions, system.Materializer(), Log, events);
            // Beside the configuration role it knows the placements: a machine placed on another process server is refused.
            if (config) Process.PlacedOn = (machine, token) => PlacementTargets.PlacedOnAsync(registry, machine, token);
            await Process.StartAsync();
            Log($"process server {ProcessServerId} listening on {Process.BoundEndpoint}, forwarding to " +
                (LocalHop is { } hop ? $"the master target beside it through {hop} (a Unix socket: plain, the node's own)" : $"{options.MasterTargetEndpoint}"));
        }
    }

    public async Task StopAsync(CancellationToken ct)
    {
        if (Process is not null) await Process.DisposeAsync();
        if (Target is not null) await Target.DisposeAsync();
    }
}
