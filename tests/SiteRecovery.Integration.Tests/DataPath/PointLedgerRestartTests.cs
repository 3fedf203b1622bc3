using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A bookmark's marker is durable in the master target's journal before the catalogue records its point. When the master
/// target stops in between (a crash, or a catalogue that never answered), the point must still reach the catalogue: the
/// restarted master target reports again every marker whose report was never answered, from its ledger and from the
/// journal's last moments, and only those. The test plays the process server on the wire.
/// </summary>
public sealed class PointLedgerRestartTests : IAsyncLifetime
{
    const long Size = 16L << 20;
    const int RecordBytes = 64 << 10;

    readonly string _root = Tools.TempDirectory("point-ledger");
    readonly List<ActorSystem> _systems = [];
    MasterTargetServer? _server;
    readonly ConcurrentQueue<string> _log = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        foreach (var system in _systems) await system.Terminate();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    string LedgerFile => Path.Combine(_root, "disks", "d1", "points.json");

    [Fact]
    public async Task A_point_the_catalogue_gave_up_on_is_reported_again_after_a_restart_from_the_saved_ledger()
    {
        var away = new Catalogue(answers: false);
        await StartAsync(away);
        await SendAsync([Write(1), Marker(2, "bm"), Write(3)]);
        await Until(() => away.Reports.Any(r => r.Name == "bm"), "the marker's first report");
        await Until(() => LedgerOwes().Contains("bm"), "the ledger to keep the unanswered marker");
        await RestartAsync();

        var back = new Catalogue(answers: true);
        await StartAsync(back);
        await SendAsync([Write(4)]);
        await Until(() => back.Reports.Any(r => r.Name == "bm"), "the marker to be reported again after the restart");
        Assert.Equal(("bm", 2L), (back.Reports.First().Name, back.Reports.First().Sequence));
    }

    [Fact]
    public async Task A_point_whose_marker_was_durable_before_the_ledger_was_saved_is_found_in_the_journal_after_a_restart()
    {
        var away = new Catalogue(answers: null);
        await StartAsync(away);
        await SendAsync([Write(1), Write(2), Marker(3, "bm"), Write(4)]);
        await Until(() => away.Reports.Any(r => r.Name == "bm"), "the marker's first report");
        await RestartAsync();
        File.Delete(LedgerFile); // as a crash right after the marker's fsync leaves it: the ledger never heard of the marker

        var back = new Catalogue(answers: true);
        await StartAsync(back);
        await SendAsync([Write(5)]);
        await Until(() => back.Reports.Any(r => r.Name == "bm"), "the marker found in the journal to be reported after the restart");
        Assert.Equal(3L, back.Reports.Single(r => r.Name == "bm").Sequence);
    }

    [Fact]
    public async Task A_point_the_catalogue_answered_is_not_reported_again_after_a_restart()
    {
        var catalogue = new Catalogue(answers: true);
        await StartAsync(catalogue);
        await SendAsync([Write(1), Marker(2, "bm"), Write(3)]);
        await Until(() => catalogue.Reports.Any(r => r.Name == "bm"), "the marker's report");
        // Settled in the ledger once the answer is in; a later commit writes the ledger without it.
        var next = 4L;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (LedgerOwes().Count > 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("waited 60 s for the ledger to settle the answered marker");
            await SendAsync([Write(next++)]);
        }
        await RestartAsync();

        var again = new Catalogue(answers: true);
        await StartAsync(again);
        // Markers owed are reported at the hello, before any new record is taken: the next marker's report comes after them.
        await SendAsync([Marker(next, "next")]);
        await Until(() => again.Reports.Any(r => r.Name == "next"), "the next marker's report");
        Assert.Equal(["next"], again.Reports.Select(r => r.Name));
    }

    async Task StartAsync(Catalogue catalogue)
    {
        // A master target's stop shuts its materializer down: each start has an actor system of its own, as a new process would.
        var system = ActorSystem.Create("point-ledger-" + Guid.NewGuid().ToString("n")[..8]);
        _systems.Add(system);
        _server = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), _root) { ProgressInterval = TimeSpan.Zero },
            new LocalFileReplicaStoreFactory(Path.Combine(_root, "replicas"), "mt-1"), catalogue, _log.Enqueue, system);
        await _server.StartAsync();
    }

    async Task RestartAsync()
    {
        _connection?.Dispose();
        _connection = null;
        await _server!.DisposeAsync();
        _server = null;
    }

    TcpClient? _connection;
    long _sent;

    /// <summary>Sends the records on the process server's connection (opened with a hello the first time) and waits until they are durable.</summary>
    async Task SendAsync(IReadOnlyList<(long Sequence, byte[] Frame)> records)
    {
        if (_connection is null)
        {
            _connection = new TcpClient();
            await _connection.ConnectAsync(_server!.BoundEndpoint!);
            var resume = await SessionHandshake.OpenAsync(_connection.GetStream(), _connection.GetStream(), new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")]), "master target", CancellationToken.None);
            _sent = resume.DurableThrough["d1"];
            var reader = new FrameReader(_connection.GetStream());
            _ = Task.Run(async () =>
            {
                try { while (await reader.ReadAsync(CancellationToken.None) is not null) { } }
                catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
            });
        }
        foreach (var (sequence, frame) in records)
        {
            await FrameIo.WriteAsync(_connection.GetStream(), FrameType.Delta, frame, CancellationToken.None);
            _sent = sequence;
        }
        await Until(() => _server!.Disks.TryGetValue("d1", out var d) && d.AppliedThrough >= _sent, $"#{_sent} to be durable");
    }

    static (long, byte[]) Write(long sequence)
    {
        var payload = new byte[RecordBytes];
        Array.Fill(payload, (byte)(sequence + 1));
        return (sequence, DeltaCodec.Encode(Delta.Create("d1", sequence, DeltaKind.Write, sequence * RecordBytes % Size, RecordBytes, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())));
    }

    static (long, byte[]) Marker(long sequence, string name) =>
        (sequence, DeltaCodec.Encode(Delta.Bookmark("d1", sequence, name, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())));

    /// <summary>The names of the markers the saved ledger still owes the catalogue a report of.</summary>
    IReadOnlyList<string> LedgerOwes()
    {
        if (!File.Exists(LedgerFile)) return ["(no ledger)"];
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(LedgerFile));
        return json.RootElement.GetProperty("Pending").EnumerateArray().Select(m => m.GetProperty("Name").GetString()!).ToList();
    }

    async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited 60 s for {what}; the master target said:\n{string.Join("\n", _log)}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// The catalogue as the master target sees it: every report kept; answered (true), given up on (false), or never
    /// answered (null: the report waits for ever, as when the configuration node is gone).
    /// </summary>
    sealed class Catalogue(bool? answers) : IDataPathEvents
    {
        public readonly ConcurrentQueue<(string Name, long Sequence)> Reports = new();
        public void DiskAttached(string diskId, string? machineId, long sizeBytes, string processServerId, string replicaPath) { }
        public Task<bool> RecoveryPointDurable(string diskId, string bookmarkId, long sequence, long timeUnixMs)
        {
            Reports.Enqueue((bookmarkId, sequence));
            return answers is { } answer ? Task.FromResult(answer) : new TaskCompletionSource<bool>().Task;
        }
        public void ReplicationProgress(string diskId, long appliedThrough, long appliedAtUnixMs, long bytesApplied) { }
        public void Resync(ResyncNotice notice) { }
    }
}
