using System.Net;
using SiteRecovery.Agent.Consistency;
using SiteRecovery.Agent.Replication;
using SiteRecovery.Capture;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Connections;

namespace SiteRecovery.Agent;

/// <summary>A protected disk as given on the command line: the export name is the disk id.</summary>
public sealed record AgentDisk(string Name, string Path);

/// <summary>Settings of one Mobility agent.</summary>
/// <param name="ProcessServer">Where the disks replicate to; null with <see cref="ProcessServerFile"/>, until that file names it.</param>
public sealed record AgentOptions(string AgentId, IReadOnlyList<AgentDisk> Disks, EndPoint NbdListen, EndPoint? ProcessServer, string StateDirectory)
{
    /// <summary>
    /// <c>--process-server-file</c>: no process server yet; the agent serves and captures until this file names one
    /// (see <see cref="ProcessServerFile"/>), then compares every disk with the replica. Null: <see cref="ProcessServer"/>.
    /// </summary>
    public string? ProcessServerFile { get; init; }
    /// <summary>
    /// <c>--process-server-id</c>: the id of the process server the agent must reach (its certificate's); another of the
    /// site's process servers at the address is refused. Needs the agent's certificate (<c>sragent register</c>). Null:
    /// any process server of the site.
    /// </summary>
    public string? ProcessServerId { get; init; }
    /// <summary>
    /// A registered agent without <c>--process-server</c>: where its disks replicate to is asked from the configuration
    /// node (<see cref="PlacementFollower"/>), and followed when the placement moves. Null: <see cref="ProcessServer"/> or
    /// <see cref="ProcessServerFile"/>.
    /// </summary>
    public PlacementLookup? Placement { get; init; }
    /// <summary>Bytes of not-yet-acknowledged deltas held per disk before writers wait.</summary>
    public long BufferBytesPerDisk { get; init; } = 64L << 20;
    /// <summary>Where the writer identity lives (<see cref="WriterIdentity"/>); null: <see cref="StateDirectory"/>.</summary>
    public string? WriterDirectory { get; init; }
    public int ResyncBlockBytes { get; init; } = 1 << 20;
    public const int DefaultActivityLogExtents = 256;
    /// <summary>Hot extents kept in each disk's write-ahead activity log (0: no log, a crash resyncs the whole disk).</summary>
    public int ActivityLogExtents { get; init; } = DefaultActivityLogExtents;
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(20);
    /// <summary>When the buffer is full: track dirty regions and reply at once (true), or make writers wait (false).</summary>
    public bool TrackOnOverflow { get; init; } = true;
    /// <summary>Application-consistency hooks run around app-consistent bookmarks (none by default).</summary>
    public FreezeOptions Freeze { get; init; } = FreezeOptions.None;
    /// <summary>
    /// <c>--shutdown-command</c>: the script a planned failover runs (<c>PATH shutdown</c>, after the freeze hooks, within the
    /// hook timeout) to shut the protected machine down before the exports turn read-only; null: a bare export, whose NBD
    /// clients are waited for to finish on their own. See <see cref="Consistency.ShutdownCommand"/>.
    /// </summary>
    public string? ShutdownCommand { get; init; }
    /// <summary>
    /// <c>--shutdown-qmp</c>: the machine's QMP socket, through which a planned failover presses its ACPI power button and
    /// waits for it to power off, instead of <see cref="ShutdownCommand"/> (not both). See <see cref="Consistency.QmpShutdown"/>.
    /// </summary>
    public string? ShutdownQmp { get; init; }
    /// <summary>
    /// The disks were written outside this agent (reprotect, failback): on this start every block is compared with the
    /// replica by hash and what differs is resent (<see cref="SiteRecovery.Contracts.Wire.ResyncReason.Reprotect"/>).
    /// </summary>
    public bool CompareWithReplica { get; init; }
    /// <summary>
    /// <c>--hold-first-sync</c>: no resync scans until this file exists (see <see cref="FirstSyncHold"/>); null: no hold.
    /// </summary>
    public string? HoldFirstSyncFile { get; init; }

    /// <summary>
    /// Mutual TLS required of every NBD client (<c>--nbd-tls-certificate/-key/-client-ca</c>); null serves plain NBD,
    /// which only loopback, a private Unix socket or <c>--nbd-listen-any</c> allows (<see cref="NbdListenAddress"/>).
    /// </summary>
    public SiteRecovery.Capture.Nbd.NbdTls? NbdTls { get; init; }
    /// <summary>Hears of every resync that finishes (the <c>--json</c> resync-complete line).</summary>
    public Action<ResyncSummary>? ResyncCompleted { get; init; }

    /// <summary>The freezer for <see cref="Freeze"/>; validate first (the <see cref="MobilityAgent"/> constructor does).</summary>
    public ApplicationFreezer BuildFreezer(Action<string> log) => ApplicationFreezer.FromOptions(Freeze, log);
}

/// <summary>
/// The Mobility agent: opens each protected disk, connects out to the process server, and once the
/// stream numbering is settled serves the disks over NBD. Writes go to the disk and into the stream.
/// </summary>
public sealed class MobilityAgent : IAsyncDisposable
{
    readonly AgentOptions _options;
    readonly Action<string> _log;
    readonly List<ReplicatedExport> _exports = [];
    readonly CancellationTokenSource _stop = new();
    NbdServer? _nbd;
    ReplicationClient? _client;
    Task? _clientTask;
    Task? _following;

    public MobilityAgent(AgentOptions options, Action<string> log)
    {
        _options = options;
        _log = log;
        if (options.Disks.Count == 0) throw new ArgumentException("the agent needs at least one --disk NAME=PATH");
        if (new object?[] { options.ProcessServer, options.ProcessServerFile, options.Placement }.Count(o => o is not null) != 1)
            throw new ArgumentException("give --process-server HOST:PORT, or --process-server-file FILE for an agent that captures until FILE names its process server, " +
                "or register the agent (sragent register) so that it asks the configuration server where its disks are placed (one of these)");
        var dup = options.Disks.GroupBy(d => d.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"disk name '{dup.Key}' is given twice");
        foreach (var d in options.Disks)
        {
            if (string.IsNullOrWhiteSpace(d.Name) || d.Name.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0)
                throw new ArgumentException($"disk name '{d.Name}' is not a valid name");
            if (!File.Exists(d.Path)) throw new FileNotFoundException($"disk '{d.Name}': path '{d.Path}' does not exist", d.Path);
        }
        options.Freeze.Validate(options.Disks.Select(d => ($"disk '{d.Name}'", d.Path)).Append(("state directory", options.StateDirectory)));
        Freezer = options.BuildFreezer(log);
        Shutdown = MachineShutdown.FromOptions(options.ShutdownCommand, options.ShutdownQmp, options.Freeze.HookTimeout, log);
        if (options.Freeze.Vss && !OperatingSystem.IsWindows())
            log($"agent {options.AgentId}: --freeze-vss: {VssHook.Unavailable}; app-consistent requests will yield flagged crash-consistent points");
    }

    /// <summary>Runs the application-consistency hooks around an app-consistent bookmark (not configured: no hooks).</summary>
    public ApplicationFreezer Freezer { get; }

    /// <summary>The validated <c>--shutdown-command</c> or <c>--shutdown-qmp</c>, or null.</summary>
    public IMachineShutdown? Shutdown { get; }

    public EndPoint? NbdEndpoint => _nbd?.LocalEndPoint;

    /// <summary>
    /// Completes when replication stops for good before the agent is disposed: faulted with what stopped it (a fault
    /// the reconnect loop does not retry). The host ends the agent on it rather than serve disks nothing replicates.
    /// </summary>
    public Task ReplicationEnded => _clientTask ?? Task.Delay(Timeout.Infinite, _stop.Token);

    /// <summary>NBD clients connected to the disk's export now (0 before the server starts).</summary>
    public int NbdClientsOf(string disk) => _nbd?.ClientsOf(disk) ?? 0;
    public IReadOnlyList<ReplicatedExport> Exports => _exports;
    public ReplicationClient? Client => Volatile.Read(ref _client);

    /// <summary>True while no process server is known (<see cref="AgentOptions.ProcessServerFile"/>): the disks serve and capture.</summary>
    public bool Capturing => _options.ProcessServer is null && Client is null;

    /// <summary>Where the agent replicates to now (null while capturing).</summary>
    public ProcessServerTarget? Route => Client?.Route.Current;

    /// <summary>This agent's writer identity (from its state directory), once started.</summary>
    public WriterIdentity? Writer { get; private set; }

    public async Task StartAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(_options.StateDirectory);
        foreach (var d in _options.Disks)
        {
            var size = new FileInfo(d.Path).Length;
            if (size <= 0) throw new InvalidDataException($"disk '{d.Name}': '{d.Path}' is empty");
            _exports.Add(new ReplicatedExport(d.Name, d.Path, new DiskStream(d.Name, size, _options.BufferBytesPerDisk), _options.TrackOnOverflow,
                _options.ActivityLogExtents, _options.StateDirectory));
        }
        // Bind the NBD port before connecting out (an outgoing connection could otherwise take it as its
        // ephemeral port); I/O waits until the process server has said where each stream resumes.
        _nbd = new NbdServer(_options.NbdListen, _exports.ToDictionary(e => e.Name, e => (INbdExport)e), new NbdServerOptions { Log = _log, Tls = _options.NbdTls });
        try { await _nbd.StartAsync(ct).ConfigureAwait(false); }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new IOException($"cannot listen for NBD on {_options.NbdListen}: {e.Message}", e);
        }
        // The agent's writer identity lives in its state directory: restarted on it, the agent is the same writer.
        Writer = WriterIdentity.Open(_options.WriterDirectory ?? _options.StateDirectory);
        if (_options.ProcessServerId is { } pinned && (Writer.Directory is not { } keys || !new HopCredentials(keys).HasCertificate))
            throw new ArgumentException($"--process-server-id {pinned}: the agent holds no certificate in '{Writer.Directory}' to check its process server with; register it first (sragent register)");
        _log($"agent {_options.AgentId}: writer {HelloSignature.Short(Writer.Fingerprint)}");
        var firstSyncHold = _options.HoldFirstSyncFile is { } hold ? FirstSyncHold.WaitAsync(hold, _log, _stop.Token) : null;
        if (_options.ProcessServer is { } processServer)
        {
            var client = StartClient(processServer, firstSyncHold);
            _clientTask = client.RunAsync(_stop.Token);
            // A replication loop that ends before its first resume ended on a fault no reconnect can cure: named here,
            // not left to wait for a resume that cannot come.
            if (await Task.WhenAny(client.FirstResume, _clientTask).WaitAsync(ct).ConfigureAwait(false) == _clientTask)
            {
                await _clientTask.ConfigureAwait(false);
                throw new IOException($"replication to process server {processServer} ended before its first resume");
            }
        }
        else if (_options.Placement is { } lookup && await FollowPlacementAsync(lookup, firstSyncHold, ct).ConfigureAwait(false))
        {
            // Placed at start: replicating as with --process-server, and following the placement from here on.
        }
        else
        {
            // Capturing: the disks serve now. The machine wrote them before this agent existed (a failover's boot), so a
            // whole compare is owed whatever comes: recorded in each activity log before any I/O, where the extents
            // captured by an earlier run of this agent stay too.
            foreach (var e in _exports)
            {
                e.Activity?.Reset(e.RecoveredActivity?.Extents ?? [], fullScanOwed: true);
                e.BeginCapture();
            }
            _clientTask = Task.Run(async () =>
            {
                if (_options.Placement is { } placement)
                {
                    // Until the configuration server places the machine; its first process server ends the capture.
                    Task? replicating = null;
                    await new PlacementFollower(_options.AgentId, placement, Writer!, _log).RunAsync(null, target =>
                    {
                        var client = StartClient(target.Address, firstSyncHold, target);
                        replicating = client.RunAsync(_stop.Token);
                        return client.Route;
                    }, _stop.Token).ConfigureAwait(false);
                    if (replicating is not null) await replicating.ConfigureAwait(false);
                    return;
                }
                EndPoint given;
                try { given = await ProcessServerFile.WaitAsync(_options.ProcessServerFile!, _log, _stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                await StartClient(given, firstSyncHold).RunAsync(_stop.Token).ConfigureAwait(false);
            }, CancellationToken.None);
        }
        foreach (var e in _exports) e.MarkReady();
        _log($"agent {_options.AgentId}: serving {string.Join(", ", _exports.Select(e => e.Name))} over NBD at {_nbd.LocalEndPoint}");
    }

    /// <summary>
    /// Asks for the placement once at start: placed, the agent replicates there at once (a clean restart resumes, no
    /// compare) and follows the placement in the background; true. Not placed (or the API unreachable): false, and the
    /// agent captures until a placement comes (and then compares every disk, as any capture owes).
    /// </summary>
    async Task<bool> FollowPlacementAsync(PlacementLookup lookup, Task? firstSyncHold, CancellationToken ct)
    {
        var follower = new PlacementFollower(_options.AgentId, lookup, Writer!, _log);
        if (await follower.AskAsync(null, ct).ConfigureAwait(false) is not PlacementStep.Go go) return false;
        _log($"placement: machine {_options.AgentId}'s disks are placed on process server {go.Target}");
        var client = StartClient(go.Target.Address, firstSyncHold, go.Target);
        var replicating = client.RunAsync(_stop.Token);
        _following = follower.RunAsync(client.Route, _ => client.Route, _stop.Token);
        _clientTask = replicating;
        if (await Task.WhenAny(client.FirstResume, replicating).WaitAsync(ct).ConfigureAwait(false) == replicating)
        {
            await replicating.ConfigureAwait(false);
            throw new IOException($"replication to process server {go.Target} ended before its first resume");
        }
        return true;
    }

    ReplicationClient StartClient(EndPoint processServer, Task? firstSyncHold, ProcessServerTarget? placed = null)
    {
        var client = new ReplicationClient(_options.AgentId, _exports, processServer, _options.StateDirectory, _options.ResyncBlockBytes, _log, freezer: Freezer,
            // A capturing agent's disks were written without it: its first settle compares them whole.
            compareWithReplica: _options.CompareWithReplica || _options.ProcessServerFile is not null, resyncCompleted: _options.ResyncCompleted,
            quiesce: new QuiesceSetup(Freezer, Shutdown, _options.Freeze.HookTimeout, _nbd!.ClientsOf),
            firstSyncHold: firstSyncHold, writer: Writer, processServerId: placed?.Id ?? _options.ProcessServerId,
            route: placed is null ? null : new ProcessServerRoute(placed));
        Volatile.Write(ref _client, client);
        return client;
    }

    /// <summary>Stops serving, waits for everything to be acknowledged, records a clean state.</summary>
    public async ValueTask DisposeAsync()
    {
        // A freeze left in effect would block the applications' writes for good: thaw before anything stops.
        await Freezer.DisposeAsync().ConfigureAwait(false);
        if (_nbd is not null) await _nbd.DisposeAsync().ConfigureAwait(false);
        var client = Client;
        var clean = client is not null && await client.DrainAndMarkCleanAsync(_options.DrainTimeout).ConfigureAwait(false);
        if (client is null && _options.ProcessServer is null)
            _log($"agent {_options.AgentId}: stopped while capturing (no process server was given); the next start captures again, and compares every disk once one is");
        else if (!clean) _log($"agent {_options.AgentId}: stopped with unacknowledged deltas; the next start resyncs");
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_clientTask is not null) await _clientTask.ConfigureAwait(false);
        if (_following is not null) await _following.ConfigureAwait(false);
        foreach (var e in _exports) e.Dispose();
        Writer?.Dispose();
    }
}
