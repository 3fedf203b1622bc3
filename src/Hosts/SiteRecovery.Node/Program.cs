using System.CommandLine;
using System.Net;
using Akka.Hosting;
using SiteRecovery.Actors.Hosting;
using SiteRecovery.Node;
using SiteRecovery.Node.Api;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Node.Access;
using SiteRecovery.Node.Cluster;

var id = new Option<string>("--id") { Description = "Node id", DefaultValueFactory = _ => "node1" };
var roles = new Option<string>("--roles") { Description = "Roles to run: all, or a comma list of configuration, process-server, master-target", DefaultValueFactory = _ => "all" };
var data = new Option<string>("--data") { Description = "Data directory (journal, cache, replicas)", DefaultValueFactory = _ => ".data/node" };
var psListen = new Option<string>("--ps-listen") { Description = "Process server data-path listen address (agents connect here)", DefaultValueFactory = _ => "127.0.0.1:9500" };
var mtListen = new Option<string>("--mt-listen") { Description = "Master target data-path listen address", DefaultValueFactory = _ => "127.0.0.1:9600" };
var mt = new Option<string?>("--master-target") { Description = "Master target address the process server forwards to (default: --mt-listen)" };
var api = new Option<string>("--api") { Description = "HTTP API listen URL; https serves --api-certificate, or a certificate the node makes (<data>/keys/api.crt)", DefaultValueFactory = _ => "https://127.0.0.1:9700" };
var apiCertificate = new Option<string?>("--api-certificate") { Description = "PEM certificate (chain) an https API serves, with --api-certificate-key" };
var apiCertificateKey = new Option<string?>("--api-certificate-key") { Description = "PEM private key of --api-certificate (a file only this user may read)" };
var provider = new Option<string>("--journal-provider") { Description = "Event journal: sqlite (file under --data), postgres or sqlserver", DefaultValueFactory = _ => "sqlite" };
var connection = new Option<string?>("--journal-connection") { Description = $"Connection string for postgres / sqlserver (visible to other users in the process list: prefer --journal-connection-file or {NodeOptions.JournalConnectionVariable})" };
var connectionFile = new Option<string?>("--journal-connection-file") { Description = "File whose content is the connection string for postgres / sqlserver" };
var recoveryDir = new Option<string?>("--recovery-dir") { Description = "The only directory POST /api/recover writes images into (default: <data>/recovered, created 0700)" };
var exportsListenAny = new Option<bool>("--exports-listen-any") { Description = "Let exports listen on addresses other than loopback without TLS (an export then serves a whole disk to whoever reaches it; not needed with --exports-tls-*)" };
var exportsTlsCertificate = new Option<string?>("--exports-tls-certificate") { Description = "PEM certificate (chain) the API's NBD exports serve; with --exports-tls-key and --exports-tls-client-ca every client of such an export must start TLS and present a certificate that CA issued (their URIs are nbds://), and an export may then listen on any address" };
var exportsTlsKey = new Option<string?>("--exports-tls-key") { Description = "PEM private key of --exports-tls-certificate (a file only this user may read)" };
var exportsTlsClientCa = new Option<string?>("--exports-tls-client-ca") { Description = "PEM file of the CA certificate(s) whose client certificates may use the API's exports (the system's trust store is not consulted)" };
var maxExports = new Option<int>("--max-exports") { Description = "Most exports served at once; the API refuses more", DefaultValueFactory = _ => NodeOptions.DefaultMaxExports };

var registerApi = new Option<string?>("--register-with") { Description = "API URL of the configuration node: register this node's process-server / master-target roles there" };
var registerServer = new Option<string?>("--configuration-server") { Description = "Configuration server id to register with (with --register-with)" };
var passphraseFile = new Option<string?>("--passphrase-file") { Description = "File holding the configuration server's passphrase (read into memory only)" };
var registerCaFile = new Option<string?>("--register-ca-file") { Description = "PEM certificate(s) to trust for an https --register-with API besides the system's (that node's keys/api.crt)" };
var replicaFile = new Option<string[]>(ReplicaFiles.Flag) { Description = "Master target: keep disk DISK's replica in the existing file PATH (DISK=PATH, repeatable), e.g. the original disk when reprotecting; its size must equal the disk's", AllowMultipleArgumentsPerToken = false };
var configFile = new Option<string?>("--config") { Description = "HOCON file with data-path overrides (see hocon/datapath.hocon)" };
var journalKeyFile = new Option<string?>(SiteRecovery.Node.Access.JournalKeyFile.Flag) { Description = "Key (32 bytes, 0600) that seals secrets in the journal; made if missing (default: <data>/keys/journal.key; nodes sharing a journal share it)" };
var clusterListen = new Option<string?>("--cluster-listen") { Description = "HOST:PORT the node's cluster remoting listens on, HOST being the address other nodes reach it by (default 127.0.0.1:0: a free port on loopback; see hocon/cluster.hocon)" };
var clusterSeed = new Option<string[]>("--cluster-seed") { Description = "HOST:PORT of a node to join, as it listens (repeatable); none: the node forms a cluster of its own", AllowMultipleArgumentsPerToken = false };
var clusterListenAny = new Option<bool>("--cluster-listen-any") { Description = "Let the cluster listen beyond loopback (cluster links are neither encrypted nor authenticated yet)" };
var peerTokenFile = new Option<string?>(SiteRecovery.Node.Access.PeerTokens.Flag) { Description = "File (0600) of tokens this node presents to other sites' APIs, one 'API_URL TOKEN' line each: a failback waits on the original site and returns machines there" };

var run = new Command("run", "Run a SiteRecovery node") { id, roles, data, psListen, mtListen, mt, api, provider, connection, connectionFile, configFile, registerApi, registerServer, passphraseFile, registerCaFile, replicaFile,
    recoveryDir, exportsListenAny, maxExports, peerTokenFile, journalKeyFile, apiCertificate, apiCertificateKey,
    exportsTlsCertificate, exportsTlsKey, exportsTlsClientCa, clusterListen, clusterSeed, clusterListenAny };
run.SetAction(async (parse, ct) =>
{
    NodeOptions options;
    SiteRecovery.Node.Failover.FailoverSettings failoverSettings;
    SiteRecovery.Node.Access.ApiSettings apiSettings;
    SiteRecovery.Node.Access.PeerTokens peerTokens;
    SiteRecovery.Node.Access.ApiTokenStore tokens;
    // The site's authority lives with the configuration role: it certifies the keys of the components that register there.
    SiteRecovery.Node.Access.SiteAuthority? authority = null;
    SiteRecovery.Node.Access.ApiTls apiTls;
    ClusterSettings clusterSettings;
    // Revoked certificates as the journal records them, for the API and for the data path's peer checks.
    var revocations = new SiteRecovery.Node.Access.RevocationList();
    try
    {
        var dataDir = Path.GetFullPath(parse.GetValue(data)!);
        NodeOptions.PrepareDataDirectory(dataDir);
        var prov = parse.GetValue(provider)!.ToLowerInvariant();
        if (!PersistenceSettings.AllowedProviders.Contains(prov))
            throw new ArgumentException($"--journal-provider '{prov}' is unknown; allowed providers: {string.Join(", ", PersistenceSettings.AllowedProviders)}");
        var persistence = prov switch
        {
            PersistenceSettings.SqliteProvider => PersistenceSettings.Sqlite(dataDir),
            _ when NodeOptions.JournalConnection(parse.GetValue(connection), parse.GetValue(connectionFile), Environment.GetEnvironmentVariable) is { } cs => new PersistenceSettings(prov, cs),
            _ => throw new ArgumentException($"--journal-provider {prov} needs a connection string: --journal-connection-file, {NodeOptions.JournalConnectionVariable} or --journal-connection"),
        };
        var mtListenEp = HostPort.Parse("--mt-listen", parse.GetValue(mtListen)!);
        options = new NodeOptions(parse.GetValue(id)!, NodeOptions.ParseRoles(parse.GetValue(roles)!), dataDir,
            HostPort.Parse("--ps-listen", parse.GetValue(psListen)!), mtListenEp,
            parse.GetValue(mt) is { } m ? HostPort.Parse("--master-target", m) : mtListenEp, parse.GetValue(api)!, persistence,
            DataPathSettings.Load(parse.GetValue(configFile)));
        // Resolve every data-path value now, so a bad one stops start-up with its key named.
        DataPathSettings.Apply(options.DataPath, new SiteRecovery.Actors.DataPath.ProcessServerOptions("check", options.ProcessServerListen, dataDir, options.MasterTargetEndpoint));
        DataPathSettings.Apply(options.DataPath, new SiteRecovery.Actors.DataPath.MasterTargetOptions("check", options.MasterTargetListen, dataDir));
        DataPathSettings.GroupSchedule(options.DataPath);
        failoverSettings = SiteRecovery.Node.Failover.FailoverSettings.Load(parse.GetValue(configFile));
        apiSettings = SiteRecovery.Node.Access.ApiSettings.Load(parse.GetValue(configFile));
        clusterSettings = ClusterSettings.Load(parse.GetValue(configFile), parse.GetValue(clusterListen), parse.GetValue(clusterSeed) ?? [], parse.GetValue(clusterListenAny));
        peerTokens = SiteRecovery.Node.Access.PeerTokens.Open(parse.GetValue(peerTokenFile));
        if (!Uri.TryCreate(options.ApiUrl, UriKind.Absolute, out var apiUri) || apiUri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--api '{options.ApiUrl}' is not an http or https URL");
        apiTls = SiteRecovery.Node.Access.ApiTls.For(apiUri, parse.GetValue(apiCertificate), parse.GetValue(apiCertificateKey), Path.Combine(dataDir, "keys"));
        options = options with { ReplicaFiles = ReplicaFiles.Parse(parse.GetValue(replicaFile) ?? [], options.Roles, Path.Combine(dataDir, "master-target")) };
        if (options.Roles.HasFlag(NodeRoles.MasterTarget)) ReplicaStores.Create(options.DataPath, Path.Combine(dataDir, "master-target"), "check", options.ReplicaFiles);
        if (parse.GetValue(maxExports) < 1) throw new ArgumentException($"--max-exports {parse.GetValue(maxExports)}: must be at least 1");
        options = options with
        {
            RecoveryDirectory = NodeOptions.PrepareRecoveryDirectory(parse.GetValue(recoveryDir), dataDir),
            ExportsListenAny = parse.GetValue(exportsListenAny),
            ExportsTls = SiteRecovery.Capture.Nbd.NbdTlsFiles.FromFlags("--exports-tls", parse.GetValue(exportsTlsCertificate), parse.GetValue(exportsTlsKey), parse.GetValue(exportsTlsClientCa)),
            MaxExports = parse.GetValue(maxExports),
        };
        if (options.Roles.HasFlag(NodeRoles.Configuration))
        {
            SiteRecovery.Node.Access.JournalKeyFile.Use(parse.GetValue(journalKeyFile) ?? SiteRecovery.Node.Access.JournalKeyFile.DefaultPath(dataDir));
            NodeOptions.PrepareSqliteJournal(options.Persistence);
            PersistenceStartupCheck.EnsureUsable(options.Persistence);
        }
        if (parse.GetValue(registerApi) is { } regApi)
        {
            if (parse.GetValue(registerServer) is not { Length: > 0 } cs) throw new ArgumentException("--register-with needs --configuration-server");
            if (parse.GetValue(passphraseFile) is not { Length: > 0 } pf) throw new ArgumentException("--register-with needs --passphrase-file");
            options = options with { Registration = new ComponentRegistrationSettings(regApi, cs, Path.GetFullPath(pf), parse.GetValue(registerCaFile) is { } ca ? Path.GetFullPath(ca) : null) };
        }
    }
    catch (Exception e) when (e is ArgumentException or PersistenceStartupException)
    {
        Console.Error.WriteLine($"srnode: {e.Message}");
        return 2;
    }
    try
    {
        // The API's tokens. On the first start an admin token is made and written to a 0600 file, never to the log: the
        // operator reads it there once (srctl finds it by --token-file) and makes narrower tokens with it.
        var keys = Path.Combine(options.DataDirectory, "keys");
        tokens = new SiteRecovery.Node.Access.ApiTokenStore(keys);
        var adminFile = Path.Combine(keys, "admin.token");
        if (tokens.BootstrapAdmin(adminFile) is { } adminId)
            Console.WriteLine($"srnode: no admin token was stored; made one (id {adminId}) and wrote it to {adminFile} (0600): keep it, then delete the file");
        if (options.Roles.HasFlag(NodeRoles.Configuration)) authority = SiteRecovery.Node.Access.SiteAuthority.OpenOrCreate(keys, DateTimeOffset.UtcNow);
    }
    catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"srnode: {e.Message}");
        return 2;
    }

    // Content root is the install folder, not the working directory: the default file watcher on the
    // content root would otherwise see every write of a data directory below it. Nothing reloads on change.
    Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
    builder.Logging.ClearProviders();
    builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
    builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
    // Start-up failures are reported once, as a one-line message below, not as a host stack trace.
    builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
    builder.WebHost.UseUrls(options.ApiUrl);
    if (apiTls.Certificate is { } served) builder.WebHost.ConfigureKestrel(k => k.ConfigureHttpsDefaults(h => h.ServerCertificate = served));
    builder.Services.AddSingleton(apiTls);
    builder.Services.Configure<Microsoft.AspNetCore.HostFiltering.HostFilteringOptions>(o => o.AllowedHosts = apiSettings.HostsFor(options.ApiUrl).ToList());
    builder.Services.AddSingleton(options);
    builder.Services.AddSingleton(apiSettings);
    builder.Services.AddSingleton(tokens);
    builder.Services.AddSingleton(peerTokens);
    builder.Services.AddSingleton(revocations);
    builder.Services.AddSingleton<SiteRecovery.Node.Access.FailedAuthentications>();
    builder.Services.AddSingleton<SiteRecovery.Node.Access.ApiAudit>();
    var clusterExit = new ClusterExit();
    builder.Services.AddAkka(ClusterSettings.SystemName, (b, services) =>
    {
        foreach (var concern in new[] { "akka.hocon", "persistence-query.hocon", "cluster.hocon" })
            b.AddHocon(Akka.Configuration.ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "hocon", concern))), HoconAddMode.Prepend);
        b.AddSiteRecoveryCluster(clusterSettings, options.Roles, () => services.GetRequiredService<IHostApplicationLifetime>(), clusterExit,
            () => services.GetRequiredService<ILoggerFactory>().CreateLogger("SiteRecovery.Cluster"));
        if (options.Roles.HasFlag(NodeRoles.Configuration))
            b.AddSiteRecoveryPersistence(options.Persistence).AddControlPlaneActors().AddRegistrationActors().AddProtectionActors().AddAlerting()
             .AddJobsProjection().AddApiAudit(options.NodeId).AddRevocationFeed(revocations);
        // These act through the data path and the node's own API, so their paths are resolved when they start, once the
        // host has started; a path resolved here would ask for services that need this actor system.
        if (options.Roles.HasFlag(NodeRoles.Configuration) && options.Roles.HasFlag(NodeRoles.MasterTarget))
        {
            var (groupPoints, check) = DataPathSettings.GroupSchedule(options.DataPath);
            b.AddGroupPointScheduler(check, groupPoints, () => GroupPoints.Paths(services))
             .AddFailoverActors(() => services.GetRequiredService<SiteRecovery.Node.Failover.NodeFailoverEffects>())
             .AddDrillScheduler(failoverSettings.DrillCheckInterval, failoverSettings.DrillMinimumInterval,
                 () => SiteRecovery.Node.Failover.DrillSchedules.Paths(services, options));
        }
    });
    // Registered before the data path, so stopped after it: a leave or a down waits here until the data path has stopped.
    builder.Services.AddSingleton(clusterExit);
    builder.Services.AddHostedService(_ => clusterExit);
    builder.Services.AddSingleton(sp => new SiteRecovery.Node.Access.NodeCertificates(options, apiSettings, authority,
        sp.GetRequiredService<ILogger<SiteRecovery.Node.Access.NodeCertificates>>()));
    builder.Services.AddSingleton<DataPathService>();
    builder.Services.AddSingleton<GroupBookmarks>();
    builder.Services.AddSingleton<BookmarkNames>();
    builder.Services.AddSingleton(failoverSettings);
    builder.Services.AddSingleton(new SiteRecovery.Node.Failover.PlanScripts(failoverSettings.ScriptsDirectory));
    builder.Services.AddSingleton(sp => new SiteRecovery.Node.Exports.PointInTimeExports(Path.Combine(options.DataDirectory, "master-target", "exports"),
        m => sp.GetRequiredService<ILoggerFactory>().CreateLogger("SiteRecovery.Exports").LogInformation("{Message}", m), options.MaxExports, options.ExportsTls));
    builder.Services.AddSingleton(sp => SiteRecovery.Node.Failover.ComputeTargets.Create(failoverSettings,
        m => sp.GetRequiredService<ILoggerFactory>().CreateLogger("SiteRecovery.Compute").LogInformation("{Message}", m)));
    builder.Services.AddSingleton(sp => sp.GetRequiredService<SiteRecovery.Node.Failover.ComputeTargets>().Local);
    builder.Services.AddSingleton<SiteRecovery.Node.Failover.NodeFailoverEffects>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<DataPathService>());
    builder.Services.AddSingleton(PlacementTargets.From(options.DataPath)).AddHostedService<PlacementTargetsRegistration>();
    // Registered after the data path, so stopped before it: the served points close while their replicas are still open.
    builder.Services.AddHostedService(sp => sp.GetRequiredService<SiteRecovery.Node.Exports.PointInTimeExports>());
    builder.Services.AddHostedService<ComponentCertificateRenewal>();
    builder.Services.AddHostedService<SiteRecovery.Node.Access.RevocationListRefresh>();
    builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
    builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
    try
    {
        var app = builder.Build();
        app.UseMiddleware<SiteRecovery.Node.Access.ApiAccessMiddleware>();
        TokenEndpoints.Map(app, options);
        ApiEndpoints.Map(app, options);
        RpoEndpoints.Map(app, options);
        ConsistencyEndpoints.Map(app, options);
        PointInTimeEndpoints.Map(app, options);
        WriterEndpoints.Map(app);
        FailoverEndpoints.Map(app, options);
        MachineHistoryEndpoints.Map(app, options);
        ReturnEndpoints.Map(app, options);
        var dataPath = app.Services.GetRequiredService<DataPathService>();
        ControlPlaneEndpoints.Map(app, options, () => dataPath.MasterTargetId, () => dataPath.ProcessServerId, authority, apiSettings);
        RecoveryPlanEndpoints.Map(app, options);
        SiteAuthorityEndpoints.Map(app, options, authority, apiSettings, revocations);
        PlacementEndpoints.Map(app, options, authority, revocations, dataPath, app.Services.GetRequiredService<PlacementTargets>());
        ClusterEndpoints.Map(app);
        SiteRecovery.Node.Access.ApiAccessTable.Check(((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints));
        // A body that is not valid JSON for its record is a 400 naming the problem, not an empty 500.
        app.Use(async (ctx, next) =>
        {
            try { await next(ctx); }
            catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
            {
                ctx.Response.StatusCode = 400;
                var message = e.InnerException is System.Text.Json.JsonException { Path: { } path } json
                    ? $"request body field '{path.TrimStart('$', '.')}' is not valid: {json.Message.Split(" Path:")[0]}"
                    : e.InnerException?.Message ?? e.Message;
                await ctx.Response.WriteAsJsonAsync(new ApiError(message));
            }
        });
        await app.RunAsync(ct);
        return clusterExit.ExitCode;
    }
    catch (Exception e) when (e is PersistenceStartupException or IOException or InvalidOperationException)
    {
        Console.Error.WriteLine($"srnode: {e.Message}");
        return 2;
    }
});

var root = new RootCommand("SiteRecovery node: configuration server, process server and master target roles") { run, SiteRecovery.Node.Access.SiteAuthorityBackup.Command() };
// SIGTERM and Ctrl-C are the host's alone (its console lifetime stops it: the master target flushes and unlocks every
// replica, an adopted original disk included, before the process ends; the host's shutdown timeout bounds that).
// System.CommandLine's own handler is off: a second handler on the same signal ran after the command had returned,
// on a disposed token source, and the process died with exit 134 instead of 0.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
