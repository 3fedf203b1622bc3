using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using Akka.Streams;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas;

namespace SiteRecovery.Actors.DataPath;

/// <summary>
/// The master target's end of the data path: process servers connect to it (one connection per disk),
/// it verifies each delta's checksum, appends it to the disk's retention journal, applies it to the
/// replica and acknowledges only after both are durable. Bookmark requests for agents travel back
/// over these connections, because the master target cannot connect to anything on premises.
/// </summary>
/// <remarks>
/// Split by concern: this file holds the state every part shares, start (the listener and its accept loop) and stop;
/// the connection itself is <c>MasterTargetServer.Session.cs</c>, and beside it are the disks held (<c>.Disks.cs</c>), how
/// recovery points come to be (<c>.Points.cs</c>), the retention pass (<c>.Retention.cs</c>) and the read facade
/// (<c>.Recovery.cs</c>).
/// </remarks>
public sealed partial class MasterTargetServer : IAsyncDisposable, SiteRecovery.Actors.Consistency.IGroupBookmarkPath
{
    readonly MasterTargetOptions _options;
    readonly IReplicaStoreFactory _stores;
    readonly IDataPathEvents _events;
    readonly Action<string> _log;
    readonly DeltaCompression _compression = new();
    readonly ConcurrentDictionary<string, Lazy<Task<ReplicaDisk>>> _disks = new();
    readonly ConcurrentDictionary<string, Session> _sessionByDisk = new();
    readonly PendingReplies<BookmarkInserted> _bookmarks = new();
    // Completed by the control connection's own thread, which then runs the coordinator's next step (no thread-pool turn).
    readonly PendingReplies<ControlMessage> _agentReplies = new(completeOnReceiverThread: true);
    readonly ConcurrentDictionary<(string Disk, string Bookmark), TaskCompletionSource<long>> _groupMarkers = new();
    // A process server's control-only connection (a hello with no disks), and which process server carries each disk.
    readonly ConcurrentDictionary<string, AcceptedControl> _controlByServer = new();
    readonly ConcurrentDictionary<string, string> _serverByDisk = new();
    readonly CancellationTokenSource _stop = new();
    readonly ConcurrentDictionary<string, string> _machineByDisk = new();
    readonly ConcurrentDictionary<string, long> _lastAutoPoint = new();
    // Per machine, the resync that last made the automatic points skip it (logged once per resync, not every round).
    readonly ConcurrentDictionary<string, string> _autoSkipLogged = new();
    SessionListener? _listener;
    Task? _acceptLoop;
    SessionListener? _localListener;
    Task? _localAcceptLoop;
    Task? _autoPoints;
    Task? _retention;
    readonly Dictionary<string, long> _windowTold = new();
    readonly Dictionary<string, bool> _skewTold = new();
    long Now() => _options.Clock is { } clock ? clock() : DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    volatile IReadOnlyDictionary<string, TimeSpan> _groupWindows = new Dictionary<string, TimeSpan>();

    readonly ActorSystem? _system;
    ActorSystem? _ownSystem;
    readonly Lazy<DiskActors> _actors;

    /// <summary>The stream materializer of the sessions and the parent of the disk writers, made at first use.</summary>
    sealed record DiskActors(ActorMaterializer Materializer, IActorRef Writers);
    DiskActors Actors => _actors.Value;

    /// <param name="system">The host's actor system, which supervises the disk writers; null: the master target runs its own.</param>
    public MasterTargetServer(MasterTargetOptions options, IReplicaStoreFactory stores, IDataPathEvents events, Action<string> log, ActorSystem? system = null)
    {
        _options = options;
        _stores = stores;
        _events = events;
        _log = log;
        _system = system;
        _actors = new Lazy<DiskActors>(() =>
        {
            var actors = _system ?? (_ownSystem = ActorSystem.Create("master-target"));
            return new DiskActors(actors.Materializer(), actors.ActorOf(Props.Create(() => new DiskWriters())));
        });
    }

    public IPEndPoint? BoundEndpoint => _listener?.BoundEndpoint;

    /// <summary>Ends the live sessions of the process servers whose certificate <paramref name="which"/> names (see <see cref="SessionListener.Close"/>).</summary>
    public IReadOnlyList<HopPeer> CloseSessions(Func<HopPeer, bool> which, string why) => _listener?.Close(which, why, _log) ?? [];

    public Task StartAsync()
    {
        _listener = new SessionListener("master target", _options.Listen, _options.MaxConnections, _options.ListenTls);
        _acceptLoop = _listener.AcceptAsync((hop, ct) => new Session(this, hop).RunAsync(ct), _log, _stop.Token);
        if (_options.LocalListen is { } local)
        {
            _localListener = SessionListener.ForLocalComponents("master target (local)", local, _options.MaxConnections);
            _localAcceptLoop = _localListener.AcceptAsync((hop, ct) => new Session(this, hop).RunAsync(ct), _log, _stop.Token);
        }
        if (_options.AutoRecoveryPointInterval is { } every) _autoPoints = AutoRecoveryPointsAsync(every, _stop.Token);
        _retention = RetentionLoopAsync(_options.RetentionCheckInterval, _stop.Token);
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        _localListener?.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
        if (_localAcceptLoop is not null) await _localAcceptLoop.ConfigureAwait(false);
        if (_autoPoints is not null) await _autoPoints.ConfigureAwait(false);
        if (_retention is not null) await _retention.ConfigureAwait(false);
        foreach (var s in _sessionByDisk.Values.Distinct()) s.Close();
        foreach (var lazy in _disks.Values)
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) await lazy.Value.Result.DisposeAsync().ConfigureAwait(false);
        if (_actors.IsValueCreated)
        {
            _actors.Value.Materializer.Shutdown();
            _actors.Value.Writers.Tell(PoisonPill.Instance);
        }
        if (_ownSystem is not null) await _ownSystem.Terminate().ConfigureAwait(false);
        _compression.Dispose();
    }
}
