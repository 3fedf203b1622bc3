using System.CommandLine;
using System.Net;
using System.Text.Json;
using SiteRecovery.Agent;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;

var id = new Option<string>("--id") { Description = "Agent id (unique per protected machine)", DefaultValueFactory = _ => Environment.MachineName };
var disks = new Option<string[]>("--disk") { Description = "A protected disk as NAME=PATH (file or block device); the NBD export name is NAME", Required = true, AllowMultipleArgumentsPerToken = false };
var nbd = new Option<string>("--nbd") { Description = "NBD listen address: HOST:PORT (loopback unless --nbd-listen-any), or unix:PATH for a socket only this user may open", DefaultValueFactory = _ => "127.0.0.1:10809" };
var nbdListenAny = new Option<bool>("--nbd-listen-any") { Description = "Let --nbd listen on an address other than loopback without TLS: the export then serves the raw disks to whoever connects, without authentication (not needed with --nbd-tls-*)" };
var nbdTlsCertificate = new Option<string?>("--nbd-tls-certificate") { Description = "PEM certificate (chain) the NBD export serves; with --nbd-tls-key and --nbd-tls-client-ca, every NBD client must start TLS (NBD_OPT_STARTTLS) and present a certificate that CA issued, and --nbd may then be any address" };
var nbdTlsKey = new Option<string?>("--nbd-tls-key") { Description = "PEM private key of --nbd-tls-certificate (a file only this user may read)" };
var nbdTlsClientCa = new Option<string?>("--nbd-tls-client-ca") { Description = "PEM file of the CA certificate(s) whose client certificates may use the NBD export (mutual TLS; the system's trust store is not consulted)" };
var ps = new Option<string?>("--process-server") { Description = "Process server data-path address HOST:PORT (or --process-server-file). Without either, a registered agent (sragent register) asks the configuration server where its machine's disks are placed, and follows the placement" };
var placementCheck = new Option<double>("--placement-check-interval") { Description = "Seconds between a registered agent's looks at its machine's placement (without --process-server); a lost connection asks at once", DefaultValueFactory = _ => 10 };
var renewBelow = new Option<double>("--certificate-renew-below") { Description = "A registered agent renews its certificate once less than this fraction of its lifetime is left", DefaultValueFactory = _ => 1 / 3.0 };
var renewCheck = new Option<double>("--certificate-check-interval") { Description = "Seconds between a registered agent's checks of its certificate's validity", DefaultValueFactory = _ => 3600 };
var psId = new Option<string?>("--process-server-id") { Description = "The process server's component id (e.g. NODE-ps): only that one of the site's process servers is spoken to (needs the agent's certificate: sragent register)" };
var psFile = new Option<string?>("--process-server-file") { Description = "No process server yet: serve NBD and capture every write (kept in the activity log), replicating nothing, until FILE holds HOST:PORT; then compare every disk with the replica (implies --compare-with-replica)" };
var state = new Option<string>("--state-dir") { Description = "Directory for the agent's tracking state", DefaultValueFactory = _ => ".data/agent" };
var bufferMb = new Option<int>("--buffer-mb") { Description = "Unacknowledged data held per disk before writers wait (MiB)", DefaultValueFactory = _ => 64 };
var activityExtents = new Option<int>("--activity-log-extents") { Description = "Extents (4 MiB each) the write-ahead activity log keeps hot per disk; after a crash only logged extents are compared and resent (0 turns the log off: a crash then compares the whole disk)", DefaultValueFactory = _ => AgentOptions.DefaultActivityLogExtents };
var json = new Option<bool>("--json") { Description = "Print machine-readable lines" };
var freezeScript = new Option<string[]>("--freeze-script") { Description = "Application-consistency script, run as 'SCRIPT freeze' / 'SCRIPT thaw' around app-consistent bookmarks (repeatable; run in order, thawed in reverse)", AllowMultipleArgumentsPerToken = false };
var freezeMount = new Option<string[]>("--freeze-mount") { Description = "Mount point to fsfreeze around app-consistent bookmarks (Linux; repeatable)", AllowMultipleArgumentsPerToken = false };
var freezeVss = new Option<bool>("--freeze-vss") { Description = "Windows VSS hook point (not built yet: reports Missing, so points stay crash-consistent and flagged)" };
var hookTimeout = new Option<double>("--hook-timeout") { Description = "Seconds each freeze/thaw hook may take before it is killed (with its process tree) and reported TimedOut", DefaultValueFactory = _ => FreezeOptions.DefaultHookTimeout.TotalSeconds };
var shutdownCommand = new Option<string?>("--shutdown-command") { Description = "Script a planned failover runs as 'PATH shutdown' (after the freeze hooks, within --hook-timeout) to shut the protected machine down before its disks turn read-only; exit 0 = done. Without it the agent waits for the NBD clients to finish and disconnect on their own" };
var shutdownQmp = new Option<string?>("--shutdown-qmp") { Description = "The protected qemu/KVM machine's QMP socket (qemu -qmp unix:SOCKET,server=on,wait=off, one the agent alone uses): a planned failover presses the machine's ACPI power button there (system_powerdown, after the freeze hooks) and waits, within --hook-timeout, until it has powered off (SHUTDOWN event, qemu exiting, or status shutdown) before its disks turn read-only; still running at the timeout fails the stop and nothing turns read-only. Instead of --shutdown-command, not with it. A socket not there yet at start is only a warning: the machine boots from this agent's disks, so it usually starts later" };
var compare = new Option<bool>("--compare-with-replica") { Description = "The disk was written outside this agent (reprotect, failback): on this start compare every block with the replica by hash and resend what differs" };
var holdFirstSync = new Option<string?>("--hold-first-sync") { Description = "Serve NBD, but start no resync (the compare of --compare-with-replica included) until FILE exists: a reprotect moves its running machine onto this agent's exports first, so that the compare sees every write it made" };
var writerDir = new Option<string?>("--writer-dir") { Description = "Directory of the agent's writer identity (writer.key, writer.epoch); the --state-dir unless given. The process server binds each disk to this identity: a new one is refused until an operator releases the disk (srctl writer release)" };
var overflow = new Option<string>("--on-full-buffer") { Description = "track: mark dirty regions and resend them (writes keep source speed); wait: writers wait for room", DefaultValueFactory = _ => "track" };

var run = new Command("run", "Serve protected disks over NBD and replicate every write") { id, disks, nbd, ps, state, bufferMb, activityExtents, json, overflow, freezeScript, freezeMount, freezeVss, hookTimeout, shutdownCommand, shutdownQmp, compare, holdFirstSync, psFile, psId, renewBelow, renewCheck, placementCheck, nbdListenAny, nbdTlsCertificate, nbdTlsKey, nbdTlsClientCa, writerDir };
run.SetAction(async (parse, ct) =>
{
    var asJson = parse.GetValue(json);
    void Log(string m) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {m}");
    Task LogAndSkip(string m) { Log(m); return Task.CompletedTask; }
    try
    {
        var parsedDisks = parse.GetValue(disks)!.Select(spec =>
        {
            var eq = spec.IndexOf('=');
            if (eq <= 0 || eq == spec.Length - 1) throw new ArgumentException($"--disk '{spec}' is not NAME=PATH");
            return new AgentDisk(spec[..eq], Path.GetFullPath(spec[(eq + 1)..]));
        }).ToList();
        var agentId = parse.GetValue(id)!;
        var keysDir = Path.GetFullPath(parse.GetValue(writerDir) ?? parse.GetValue(state)!);
        var placement = PlacementOf(agentId, keysDir, parse.GetValue(ps), parse.GetValue(psFile), parse.GetValue(psId), parse.GetValue(placementCheck), Log);
        var tls = SiteRecovery.Capture.Nbd.NbdTlsFiles.FromFlags("--nbd-tls", parse.GetValue(nbdTlsCertificate), parse.GetValue(nbdTlsKey), parse.GetValue(nbdTlsClientCa));
        var options = new AgentOptions(parse.GetValue(id)!, parsedDisks, NbdListenAddress.Parse("--nbd", parse.GetValue(nbd)!, parse.GetValue(nbdListenAny), authenticated: tls is not null),
            parse.GetValue(ps) is { } psText ? HostPort.Parse("--process-server", psText) : null, Path.GetFullPath(parse.GetValue(state)!))
        {
            ProcessServerFile = parse.GetValue(psFile) is { } psPath ? Path.GetFullPath(psPath) : null,
            Placement = placement,
            ProcessServerId = parse.GetValue(psId) is { } pinned
                ? SiteRecovery.Contracts.Storage.PathNames.IsOneComponent(pinned) ? pinned : throw new ArgumentException($"--process-server-id '{pinned}' is not a component id")
                : null,
            BufferBytesPerDisk = (long)parse.GetValue(bufferMb) << 20,
            ActivityLogExtents = parse.GetValue(activityExtents) is >= 0 and <= 1 << 20 and var ext ? ext
                : throw new ArgumentException($"--activity-log-extents {parse.GetValue(activityExtents)} is outside 0..{1 << 20}"),
            TrackOnOverflow = parse.GetValue(overflow) switch
            {
                "track" => true,
                "wait" => false,
                var other => throw new ArgumentException($"--on-full-buffer '{other}' is not track or wait"),
            },
            CompareWithReplica = parse.GetValue(compare),
            NbdTls = tls,
            WriterDirectory = parse.GetValue(writerDir) is { } wd ? Path.GetFullPath(wd) : null,
            HoldFirstSyncFile = parse.GetValue(holdFirstSync) is { } holdFile ? Path.GetFullPath(holdFile) : null,
            ShutdownCommand = parse.GetValue(shutdownCommand),
            ShutdownQmp = parse.GetValue(shutdownQmp),
            // The summary is logged by the agent; with --json it is also one machine-readable line on stdout.
            ResyncCompleted = asJson ? summary => Console.WriteLine(summary.ToJson()) : null,
            Freeze = new FreezeOptions(parse.GetValue(freezeScript) ?? [], parse.GetValue(freezeMount) ?? [], parse.GetValue(freezeVss))
            {
                HookTimeout = HookTimeoutOf(parse.GetValue(hookTimeout)),
            },
        };
        var (renewFraction, renewEvery) = (RenewBelowOf(parse.GetValue(renewBelow)), CheckIntervalOf(parse.GetValue(renewCheck)));
        if (options.BufferBytesPerDisk < 1 << 20) throw new ArgumentException($"--buffer-mb {parse.GetValue(bufferMb)} is below 1");
        await using var agent = new MobilityAgent(options, Log);
        var stop = new CancellationTokenSource();
        // SIGTERM and Ctrl-C end the wait below; the agent then drains and records a clean state before exiting.
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.Cancel(); });
        using var startCts = CancellationTokenSource.CreateLinkedTokenSource(ct, stop.Token);
        await agent.StartAsync(startCts.Token);
        var ready = new { @event = "ready", agent = options.AgentId, nbd = agent.NbdEndpoint?.ToString(), nbdTls = tls is not null, disks = parsedDisks.Select(d => d.Name) };
        Console.WriteLine(asJson ? JsonSerializer.Serialize(ready) : $"ready: NBD{(tls is null ? "" : " (TLS with client certificates)")} at {ready.nbd}, disks {string.Join(", ", ready.disks)}");
        // A registered agent renews its own certificate (sragent register left where, beside the key).
        var keys = options.WriterDirectory ?? options.StateDirectory;
        var renewing = EnrollmentRecord.Load(keys) is { } enrolled && File.Exists(Path.Combine(keys, EnrollmentCertificates.CertificateFileName))
            ? enrolled.ComponentId == options.AgentId
                ? SiteRecovery.Agent.Host.CertificateRenewalLoop.RunAsync(keys, enrolled, renewFraction, renewEvery, Log, startCts.Token)
                : LogAndSkip($"certificate renewal: the certificate in '{keys}' was registered for {enrolled.ComponentId}, not {options.AgentId}; not renewed")
            : Task.CompletedTask;
        var stopped = Task.Delay(Timeout.Infinite, startCts.Token);
        if (await Task.WhenAny(stopped, agent.ReplicationEnded) != stopped && !startCts.IsCancellationRequested)
        {
            var why = agent.ReplicationEnded.Exception?.GetBaseException() is { } e ? $"{e.GetType().Name}: {e.Message}" : "its loop returned";
            Log($"stopping: replication stopped for good ({why})");
            return 1;
        }
        Log("stopping: waiting for outstanding deltas to be acknowledged");
        await renewing;
        return 0;
    }
    catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or FormatException)
    {
        Console.Error.WriteLine($"sragent: {e.Message}");
        return 2;
    }
});

// Without --process-server or --process-server-file, a registered agent follows its machine's placement; an explicit
// flag wins over the enrollment (said in the log), and neither with no enrollment is refused naming both ways.
static SiteRecovery.Agent.Replication.PlacementLookup? PlacementOf(string agentId, string keys, string? processServer, string? processServerFile, string? pinned,
    double intervalSeconds, Action<string> log)
{
    if (!double.IsFinite(intervalSeconds) || intervalSeconds is < 0.1 or > 86400)
        throw new ArgumentException($"--placement-check-interval {intervalSeconds}: seconds from 0.1 to 86400");
    var enrolled = EnrollmentRecord.Load(keys);
    if (processServer is not null || processServerFile is not null)
    {
        if (enrolled is not null)
            log($"placement: {(processServer is not null ? $"--process-server {processServer}" : $"--process-server-file {processServerFile}")} given; the configuration server's placement is not asked");
        return null;
    }
    if (enrolled is null)
        throw new ArgumentException($"no process server: give --process-server HOST:PORT (or --process-server-file FILE), or register the agent (sragent register --state-dir {keys}) " +
            $"so that it asks the configuration server where its disks are placed ('{keys}' holds no {EnrollmentRecord.FileName})");
    if (enrolled.ComponentId != agentId)
        throw new ArgumentException($"the enrollment in '{keys}' is for {enrolled.ComponentId}, not --id {agentId}: its certificate cannot ask for machine {agentId}'s placement");
    if (!File.Exists(Path.Combine(keys, EnrollmentCertificates.CertificateFileName)))
        throw new ArgumentException($"'{keys}' holds an enrollment but no certificate ({EnrollmentCertificates.CertificateFileName}); register the agent again (sragent register)");
    if (pinned is not null)
        throw new ArgumentException($"--process-server-id {pinned} needs --process-server: a placed agent is pinned to the process server its placement names");
    log($"placement: no --process-server; machine {agentId}'s placement is asked from {enrolled.ApiUrl} (configuration server {enrolled.ConfigurationServerId})");
    return new SiteRecovery.Agent.Replication.PlacementLookup(enrolled, keys, TimeSpan.FromSeconds(intervalSeconds));
}

static double RenewBelowOf(double fraction) => fraction is > 0 and < 1 ? fraction
    : throw new ArgumentException($"--certificate-renew-below {fraction}: a fraction of the certificate's lifetime, above 0 and below 1");

static TimeSpan CheckIntervalOf(double seconds) => double.IsFinite(seconds) && seconds is >= 1 and <= 7 * 86400 ? TimeSpan.FromSeconds(seconds)
    : throw new ArgumentException($"--certificate-check-interval {seconds}: seconds from 1 to {7 * 86400}");

// The range (naming the flag) is FreezeOptions.Validate's; here only what a TimeSpan cannot hold (NaN, infinity, huge).
static TimeSpan HookTimeoutOf(double seconds) =>
    double.IsFinite(seconds) && Math.Abs(seconds) <= 1e6
        ? TimeSpan.FromSeconds(seconds)
        : throw new ArgumentException($"--hook-timeout {seconds}: must be more than 0 and at most {FreezeOptions.MaxHookTimeout.TotalSeconds:0} seconds");

var root = new RootCommand("SiteRecovery Mobility agent: NBD write splitter and replication sender") { run, SiteRecovery.Agent.Host.RegisterCommand.Create(), SiteRecovery.Agent.Host.RenewCommand.Create() };
// On SIGTERM the agent winds its NBD clients down and waits (up to its drain timeout, 20 s) for every delta to be
// acknowledged before it records a clean state; a failback depends on that state. The signals are the run command's
// own handlers' (above); System.CommandLine's is off, since two handlers on one signal race (see srnode's Program.cs).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
