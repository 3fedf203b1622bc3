using System.Collections.Concurrent;
using System.Net;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.Win32.SafeHandles;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Storage;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Compression;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// The master target's per-disk stage and writer (<see cref="MasterTargetServer.DiskWriter"/>) on a real disk (segment
/// journal and replica file in a temp folder): what arrives while a commit is in flight is batched into the next commit,
/// a full stage stops taking records from its source (the session's socket reader), and a storage fault in the middle of
/// a batch stops the disk with nothing acknowledged past the last fsync. The fsyncs are held at a gate under the real
/// file layer, so the tests wait for states, never for durations.
/// </summary>
public sealed class DiskWriterTests : IAsyncLifetime
{
    const long Size = 64L << 20;
    const int RecordBytes = 64 << 10;

    readonly string _root = Tools.TempDirectory("disk-writer");
    readonly GatedFileIo _io = new();
    readonly ConcurrentQueue<ControlMessage> _sent = new();
    readonly RecordingEvents _events = new();
    readonly ActorSystem _system = ActorSystem.Create("disk-writer-" + Guid.NewGuid().ToString("n")[..8]);
    MasterTargetServer _server = null!;
    ReplicaDisk _disk = null!;
    LocalFileReplicaStoreFactory _stores = null!;
    SegmentLogOptions _journal = null!;

    public async Task InitializeAsync()
    {
        _journal = new SegmentLogOptions { FileIo = _io };
        _stores = new LocalFileReplicaStoreFactory(Path.Combine(_root, "replicas"), "mt-1");
        _server = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), _root) { Journal = _journal },
            _stores, _events, _ => { }, _system);
        _disk = await OpenDiskAsync();
    }

    Task<ReplicaDisk> OpenDiskAsync() => ReplicaDisk.OpenAsync(Path.Combine(_root, "disks", "d1"), "d1", Size, _stores, new DeltaCompression(), _journal,
        TimeSpan.FromSeconds(1), CancellationToken.None);

    public async Task DisposeAsync()
    {
        _io.Release();
        await _disk.DisposeAsync();
        await _server.DisposeAsync();
        await _system.Terminate();
    }

    /// <summary>The disk's stage fed by a queue that stands where the session's socket reader is: an offer completes only when the stage takes the record.</summary>
    async Task<(ISourceQueueWithComplete<MasterTargetServer.IncomingRecord> Reader, Task Done, MasterTargetServer.DiskWriterRef Writer)> StartAsync(long commitBytes)
    {
        var writer = await _server.StartWriterAsync(_disk, (m, _) =>
        {
            _sent.Enqueue(m);
            return Task.CompletedTask;
        });
        var (reader, done) = Source.Queue<MasterTargetServer.IncomingRecord>(1, OverflowStrategy.Backpressure)
            .Via(MasterTargetServer.DiskWriter.Stage(new Dictionary<string, MasterTargetServer.DiskWriterRef> { ["d1"] = writer }, commitBytes))
            .ToMaterialized(Sink.Ignore<MasterTargetServer.DiskWriter.Written>(), Keep.Both)
            .WithAttributes(Attributes.CreateInputBuffer(1, 2))
            .Run(_system.Materializer());
        return (reader, done, writer);
    }

    /// <summary>A write record as it comes off the wire: encoded, then its header decoded and validated by the session.</summary>
    MasterTargetServer.IncomingRecord Record(long sequence)
    {
        var payload = new byte[RecordBytes];
        Array.Fill(payload, (byte)(sequence % 250 + 1));
        var bytes = DeltaCodec.Encode(Delta.Create("d1", sequence, DeltaKind.Write, sequence * RecordBytes % Size, RecordBytes, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        var header = DeltaCodec.Decode(bytes, out var compressed);
        Assert.Null(DeltaValidation.Check(header, Size, compressed));
        return new MasterTargetServer.IncomingRecord(_disk, header, compressed, new PooledFrame(FrameType.Delta, bytes, bytes.Length, pooled: false));
    }

    List<long> Acks() => _sent.OfType<Ack>().Select(a => a.DurableThrough).ToList();

    static async Task Until(Func<bool> condition, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Records_that_arrive_while_a_commit_is_in_flight_go_into_the_next_commit_together()
    {
        var (reader, done, _) = await StartAsync(commitBytes: 8 << 20);
        _io.Hold();
        Assert.Equal(QueueOfferResult.Enqueued.Instance, await reader.OfferAsync(Record(1)).WaitAsync(TimeSpan.FromSeconds(60)));
        await Until(() => _io.Waiting == 1, "the commit of #1 to reach its fsync");
        for (var s = 2; s <= 9; s++) Assert.Equal(QueueOfferResult.Enqueued.Instance, await reader.OfferAsync(Record(s)).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Empty(Acks()); // nothing is acknowledged before its fsync returned
        _io.Release();
        await Until(() => Acks().LastOrDefault() == 9, "the acknowledgement of #9");
        Assert.Equal([1L, 9L], Acks());
        Assert.Equal(2, _io.Fsyncs);
        Assert.Equal(9, _disk.DurableThrough);
        reader.Complete();
        await done.WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_full_stage_stops_taking_records_from_the_reader_until_the_commit_returns()
    {
        const long commitBytes = 4 * (RecordBytes + 256);
        var (reader, done, _) = await StartAsync(commitBytes);
        _io.Hold();
        await reader.OfferAsync(Record(1));
        await Until(() => _io.Waiting == 1, "the commit of #1 to reach its fsync");
        // Offered one at a time: the first offer that the stage does not take within seconds is held back by it. A slow
        // machine can only stop the count earlier; a stage that never pushes back takes all of them.
        var sequence = 1L;
        Task<IQueueOfferResult>? pending = null;
        while (sequence < 200)
        {
            var offer = reader.OfferAsync(Record(++sequence));
            if (await Task.WhenAny(offer, Task.Delay(TimeSpan.FromSeconds(3))) != offer)
            {
                pending = offer;
                break;
            }
        }
        Assert.NotNull(pending);
        // One batch (four records) and a few stage buffers may be taken ahead of the writer, no more.
        Assert.True(sequence <= 16, $"the stage took #{sequence} while the commit of #1 was held (want at most #16)");
        Assert.Empty(Acks());
        _io.Release();
        Assert.Equal(QueueOfferResult.Enqueued.Instance, await pending!.WaitAsync(TimeSpan.FromSeconds(60)));
        await Until(() => Acks().LastOrDefault() == sequence, $"the acknowledgement of #{sequence}");
        Assert.Equal(Acks().Order().ToList(), Acks());
        reader.Complete();
        await done.WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_storage_fault_in_the_middle_of_a_batch_stops_the_disk_and_acknowledges_nothing_past_the_last_fsync()
    {
        var (reader, done, writer) = await StartAsync(commitBytes: 8 << 20);
        _io.Hold();
        await reader.OfferAsync(Record(1));
        await Until(() => _io.Waiting == 1, "the commit of #1 to reach its fsync");
        for (var s = 2; s <= 6; s++) await reader.OfferAsync(Record(s)).WaitAsync(TimeSpan.FromSeconds(60));
        // #1's own write is done; #2 and #3 are journaled, #4's write fails (EIO), #5 and #6 never get there.
        _io.FailWritesAfter(2);
        _io.Release();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => done.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("replication stopped after #1", error.Message);
        await writer.Stopped.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal([1L], Acks());
        Assert.Equal(DiskStopReason.JournalWriteFailed, _disk.Fault?.Reason);
        Assert.Equal(1, _disk.Fault?.StoppedAfter);
        Assert.Contains(("d1", (DiskStopReason?)DiskStopReason.JournalWriteFailed), _events.Stops);

        // Opened afresh, as the next hello does once the storage takes writes: the journal holds what was fsync'd, #1, and nothing past it.
        _io.FailWritesAfter(int.MaxValue);
        await _disk.CloseAfterFaultAsync();
        _disk = await OpenDiskAsync();
        Assert.Equal(1, _disk.AppliedThrough);
        Assert.Equal(1, _disk.DurableThrough);
    }

    [Fact]
    public async Task The_session_stops_reading_its_socket_while_the_disk_stage_is_full_and_answers_control_frames_in_between()
    {
        await _server.DisposeAsync();
        _server = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), _root) { Journal = _journal, CommitBytes = 256 << 10 },
            _stores, _events, _ => { }, _system);
        await _server.StartAsync();
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(_server.BoundEndpoint!);
        var net = client.GetStream();
        var resume = await SessionHandshake.OpenAsync(net, net, new Hello("ps-1", [new DiskOffer("d2", Size)]), "master target", CancellationToken.None);
        Assert.Equal(0, resume.DurableThrough["d2"]);
        var acks = new ConcurrentQueue<long>();
        var replies = Task.Run(async () =>
        {
            var reader = new FrameReader(net);
            while (await reader.ReadAsync(CancellationToken.None) is { } frame)
                if (ControlMessage.Parse(frame.Body) is Ack ack) acks.Enqueue(ack.DurableThrough);
        });
        static byte[] Frame(long sequence)
        {
            var payload = new byte[RecordBytes];
            Array.Fill(payload, (byte)(sequence % 250 + 1));
            return DeltaCodec.Encode(Delta.Create("d2", sequence, DeltaKind.Write, sequence * RecordBytes % Size, RecordBytes, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
        }

        _io.Hold();
        await FrameIo.WriteAsync(net, FrameType.Delta, Frame(1), CancellationToken.None);
        await Until(() => _io.Waiting == 1, "the commit of #1 to reach its fsync");
        // A control frame between the records is answered at once, while the disk's commit is held.
        await FrameIo.WriteAsync(net, FrameType.Control, new ResyncNotice("d2", ResyncReason.OperatorRequest, false, 2).ToBytes(), CancellationToken.None);
        await Until(() => _events.Resyncs.Any(n => n.DiskId == "d2"), "the resync notice to reach the events");
        // 64 MiB more: far past what the stage (256 KiB batches) and the sockets' buffers hold, so the client's writes
        // stay blocked while the commit is held, as long as the session reads only what its stages take.
        const int more = 1024;
        var sending = Task.Run(async () =>
        {
            for (var s = 2L; s <= 1 + more; s++) await FrameIo.WriteAsync(net, FrameType.Delta, Frame(s), CancellationToken.None);
        });
        Assert.NotSame(sending, await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(5))));
        Assert.Empty(acks);
        _io.Release();
        await sending.WaitAsync(TimeSpan.FromSeconds(120));
        await Until(() => acks.LastOrDefault() == 1 + more, $"the acknowledgement of #{1 + more}", 120);
        Assert.Equal(acks.Order().ToList(), acks.ToList());
        Assert.Equal(1 + more, _server.Disks["d2"].AppliedThrough);
        client.Close();
        await replies.ContinueWith(_ => { });
    }
}
