using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using SiteRecovery.Actors.DataPath;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Journal.Replicas.Local;
using SiteRecovery.Journal.Segments;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// A bookmark asked while a process server reconnects to the master target (a restart of any hop, then a bookmark right
/// after it, as the soak does). The process server takes the first frame after its hello as the resume and ends the
/// connection on anything else; a bookmark request sent in that window used to go first, end the new connection, and
/// leave its caller waiting out the whole timeout. Here the new connection's hello waits for the disk (the old
/// connection's commit is held at its fsync), and the process server plays both its own part and the agent's.
/// </summary>
public sealed class BookmarkAcrossReconnectTests : IAsyncLifetime
{
    const long Size = 16L << 20;
    const int RecordBytes = 64 << 10;

    readonly string _root = Tools.TempDirectory("bookmark-reconnect");
    readonly GatedFileIo _io = new();
    readonly ActorSystem _system = ActorSystem.Create("bookmark-reconnect-" + Guid.NewGuid().ToString("n")[..8]);
    MasterTargetServer _server = null!;

    public async Task InitializeAsync()
    {
        _server = new MasterTargetServer(new MasterTargetOptions("mt-1", new IPEndPoint(IPAddress.Loopback, 0), _root) { Journal = new SegmentLogOptions { FileIo = _io } },
            new LocalFileReplicaStoreFactory(Path.Combine(_root, "replicas"), "mt-1"), new RecordingEvents(), _ => { }, _system);
        await _server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        _io.Release();
        await _server.DisposeAsync();
        await _system.Terminate();
    }

    [Fact]
    public async Task A_bookmark_asked_while_a_new_connection_waits_for_its_disk_goes_out_after_the_resume_and_completes()
    {
        using var first = new TcpClient();
        await first.ConnectAsync(_server.BoundEndpoint!);
        var one = first.GetStream();
        await SessionHandshake.OpenAsync(one, one, new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")]), "master target", CancellationToken.None);
        var firstEnded = Task.Run(async () =>
        {
            var reader = new FrameReader(one);
            try { while (await reader.ReadAsync(CancellationToken.None) is not null) { } }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        });
        _io.Hold();
        await FrameIo.WriteAsync(one, FrameType.Delta, Write(1), CancellationToken.None);
        await Until(() => _io.Waiting == 1, "the commit of #1 to reach its fsync");

        // The process server reconnects: the master target ends the first connection at once, and the new one waits
        // for the disk (its writer still holds it, committing #1) before it can answer with the resume.
        using var second = new TcpClient();
        await second.ConnectAsync(_server.BoundEndpoint!);
        var two = second.GetStream();
        await FrameIo.WriteAsync(two, FrameType.Control, new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")], ProtocolVersion.Current).ToBytes(), CancellationToken.None);
        await firstEnded.WaitAsync(TimeSpan.FromSeconds(60));

        var bookmark = _server.BookmarkAsync("across", ["d1"], TimeSpan.FromSeconds(60), CancellationToken.None);
        // Long enough for a request sent too early to be on the wire before the resume (it was, every time, before the fix).
        await Task.Delay(300);
        Assert.False(bookmark.IsCompleted, $"the bookmark ended while the disk was held: {(bookmark.IsFaulted ? bookmark.Exception!.InnerException!.Message : "completed")}");
        _io.Release();

        var reader = new FrameReader(two);
        var resume = Assert.IsType<Resume>(await NextControlAsync(reader));
        Assert.Equal(1, resume.DurableThrough["d1"]);
        var request = Assert.IsType<BookmarkRequest>(await NextControlAsync(reader));
        Assert.Equal("across", request.BookmarkId);

        // The agent inserts the marker after #1; it reaches the master target, which makes it durable.
        await FrameIo.WriteAsync(two, FrameType.Control, new BookmarkInserted(request.RequestId, "across", new Dictionary<string, long> { ["d1"] = 2 }, null).ToBytes(), CancellationToken.None);
        await FrameIo.WriteAsync(two, FrameType.Delta, DeltaCodec.Encode(Delta.Bookmark("d1", 2, "across", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())), CancellationToken.None);
        var result = await bookmark.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Null(result.Error);
        Assert.Equal(2, result.Sequences["d1"]);
        Assert.Equal(2, _server.Disks["d1"].AppliedThrough);
    }

    [Fact]
    public async Task A_bookmark_whose_connection_ends_before_the_answer_is_asked_again_on_the_next_connection()
    {
        using var first = new TcpClient();
        await first.ConnectAsync(_server.BoundEndpoint!);
        var one = first.GetStream();
        await SessionHandshake.OpenAsync(one, one, new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")]), "master target", CancellationToken.None);
        var bookmark = _server.BookmarkAsync("again", ["d1"], TimeSpan.FromSeconds(60), CancellationToken.None);
        var lost = Assert.IsType<BookmarkRequest>(await NextControlAsync(new FrameReader(one)));

        // The process server dies with the request unanswered; it comes back and the request is asked anew on the new
        // connection, not waited out to the timeout.
        first.Close();
        using var second = new TcpClient();
        await second.ConnectAsync(_server.BoundEndpoint!);
        var two = second.GetStream();
        await SessionHandshake.OpenAsync(two, two, new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")]), "master target", CancellationToken.None);
        var again = Assert.IsType<BookmarkRequest>(await NextControlAsync(new FrameReader(two)).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.NotEqual(lost.RequestId, again.RequestId);
        Assert.Equal("again", again.BookmarkId);

        // Refused now (a resync, say): the lost try may have reached the agent and its marker may still come, so the
        // caller is told it may yet be a point, never that the name was refused.
        await FrameIo.WriteAsync(two, FrameType.Control, new BookmarkInserted(again.RequestId, "again", new Dictionary<string, long>(), "disk d1 is in a resync", Retryable: false).ToBytes(), CancellationToken.None);
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => bookmark.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("may yet be a recovery point", timeout.Message);
        Assert.Contains("disk d1 is in a resync", timeout.Message);
    }

    [Fact]
    public async Task A_try_that_gets_no_answer_after_a_refused_one_is_a_timeout_never_the_refusal()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(_server.BoundEndpoint!);
        var stream = client.GetStream();
        await SessionHandshake.OpenAsync(stream, stream, new Hello("ps-1", [new DiskOffer("d1", Size, "vm1")]), "master target", CancellationToken.None);
        var reader = new FrameReader(stream);
        var bookmark = _server.BookmarkAsync("late", ["d1"], TimeSpan.FromSeconds(3), CancellationToken.None);

        // The first try is refused for now (the agent is resyncing); the second goes out and the agent's answer is late:
        // it may still insert the marker, which would become a point under the name, so the caller must not hear "refused".
        var first = Assert.IsType<BookmarkRequest>(await NextControlAsync(reader));
        await FrameIo.WriteAsync(stream, FrameType.Control, new BookmarkInserted(first.RequestId, "late", new Dictionary<string, long>(), "disk d1 is resyncing", Retryable: true).ToBytes(), CancellationToken.None);
        var second = Assert.IsType<BookmarkRequest>(await NextControlAsync(reader));
        Assert.Equal("late", second.BookmarkId);
        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => bookmark.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("did not complete within 3 s", timeout.Message);
        Assert.Contains("may yet be a recovery point", timeout.Message);
        Assert.Contains("disk d1 is resyncing", timeout.Message);
    }

    static byte[] Write(long sequence)
    {
        var payload = new byte[RecordBytes];
        Array.Fill(payload, (byte)(sequence + 1));
        return DeltaCodec.Encode(Delta.Create("d1", sequence, DeltaKind.Write, sequence * RecordBytes % Size, RecordBytes, payload, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    static async Task<ControlMessage> NextControlAsync(FrameReader reader)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await reader.ReadAsync(cts.Token) is { } frame)
            if (frame.Type == FrameType.Control && ControlMessage.Parse(frame.Body) is not Ack and var m) return m;
        throw new EndOfStreamException("the master target closed the connection");
    }

    static async Task Until(Func<bool> condition, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(10);
        }
    }
}
