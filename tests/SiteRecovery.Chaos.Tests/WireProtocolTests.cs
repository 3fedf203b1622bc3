using System.Net;
using System.Text;
using SiteRecovery.Chaos.Tests.Support;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Chaos.Tests;

/// <summary>One all-in-one node shared by the bad-data tests (each test uses its own disk ids).</summary>
public sealed class WireNodeFixture : IAsyncLifetime
{
    public TempDir Dir { get; } = new("wire");
    public Node Node { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The fake agents here answer nothing but acks: the master target's automatic points (a BookmarkRequest every
        // 5 s to a disk that changed) would arrive where a test reads its next Ack, so they are off for this node.
        var conf = Dir["no-auto-points.conf"];
        await File.WriteAllTextAsync(conf, "siterecovery.data-path.master-target.auto-recovery-point-interval = off\n");
        Node = new Node("wire", "all", Dir["n"], Dir.Path, null, "--config", conf);
        await Node.StartAsync();
    }

    public Task DisposeAsync()
    {
        Node.Dispose();
        Dir.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>A fake agent speaks the data-path protocol badly on purpose; the HTTP API gets bad requests.</summary>
public sealed class WireProtocolTests(WireNodeFixture fixture) : IClassFixture<WireNodeFixture>
{
    const long Size = 1L << 20;
    Node Node => fixture.Node;

    static byte[] Pattern(int seed, int length = 64 << 10)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    async Task WaitAppliedAsync(string disk, long sequence)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Node.AppliedAsync(disk) < sequence)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{disk} not applied through #{sequence} at the master target\n{Node.Logs()}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Delta_with_a_bad_checksum_is_naked_and_never_stored_then_the_good_one_is_acked()
    {
        const string disk = "cksum";
        await using var agent = await FakeAgent.ConnectAsync(Node.PsPort);
        var resume = await agent.HelloAsync("fake-1", disk, Size);
        Assert.Equal(0, resume.DurableThrough[disk]);

        var bad = Pattern(1);
        var good = Pattern(2);
        var damaged = FakeAgent.Write(disk, 1, 128 << 10, bad);
        await agent.SendDeltaAsync(damaged with { Checksum = damaged.Checksum ^ 0x5a5a });
        var nak = Assert.IsType<Nak>(await agent.ReadControlAsync());
        Assert.Equal(disk, nak.DiskId);
        Assert.Equal(1, nak.ResendFrom);
        Assert.Contains("checksum", nak.Reason, StringComparison.OrdinalIgnoreCase);

        await agent.SendDeltaAsync(FakeAgent.Write(disk, 1, 128 << 10, good));
        var ack = Assert.IsType<Ack>(await agent.ReadControlAsync());
        Assert.Equal(disk, ack.DiskId);
        Assert.Equal(1, ack.DurableThrough);

        await WaitAppliedAsync(disk, 1);
        Assert.False(Files.AnyFileContains(Node.DataDir, bad[..4096]), "the damaged payload was stored somewhere under the node's data directory");
        var output = fixture.Dir["cksum.recovered.img"];
        var r = await Node.Api.PostAsync("api/recover", new { disk, sequence = 1, output });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        var image = await File.ReadAllBytesAsync(output);
        Assert.Equal(Size, image.Length);
        Assert.True(image.AsSpan(128 << 10, good.Length).SequenceEqual(good), "the good delta is not in the recovered image");
        Assert.True(image.AsSpan().IndexOf(bad.AsSpan(0, 4096)) < 0, "the damaged delta reached the recovered image");
    }

    /// <summary>
    /// Played as the agent does it: it sends on before a nak reaches it, and rewinds once per nak. The first copy of #1 and
    /// both copies its rewinds send are damaged on the way (a byte of the payload flipped); each is asked for again, so
    /// #1 and #2 become durable on the same connection, with no reconnection to unstick them.
    /// </summary>
    [Fact]
    public async Task A_resend_damaged_twice_is_naked_each_time_and_the_disk_goes_on_in_the_same_connection()
    {
        const string disk = "cksum-again";
        await using var agent = await FakeAgent.ConnectAsync(Node.PsPort);
        await agent.HelloAsync("fake-again", disk, Size);
        var first = FakeAgent.Write(disk, 1, 0, Pattern(30));
        var second = FakeAgent.Write(disk, 2, 64 << 10, Pattern(31));
        for (var copy = 1; copy <= 3; copy++)
        {
            var payload = first.Payload.ToArray();
            payload[copy * 1000] ^= 0x20;
            await agent.SendDeltaAsync(first with { Payload = payload });
            await agent.SendDeltaAsync(second);
            ControlMessage answer;
            try { answer = await agent.ReadControlAsync(TimeSpan.FromSeconds(30)); }
            catch (OperationCanceledException) { throw new Xunit.Sdk.XunitException($"copy {copy} of #1 damaged: no nak within 30 s, the disk waits for a resend nobody asked for"); }
            var nak = Assert.IsType<Nak>(answer);
            Assert.Equal(1, nak.ResendFrom);
            Assert.Contains("checksum", nak.Reason, StringComparison.OrdinalIgnoreCase);
        }

        await agent.SendDeltaAsync(first);
        await agent.SendDeltaAsync(second);
        long durable;
        do durable = Assert.IsType<Ack>(await agent.ReadControlAsync()).DurableThrough;
        while (durable < 2);
        Assert.Equal(2, durable);
        await WaitAppliedAsync(disk, 2);
    }

    [Fact]
    public async Task Delta_after_a_sequence_gap_is_naked_with_the_expected_sequence()
    {
        const string disk = "gap";
        await using var agent = await FakeAgent.ConnectAsync(Node.PsPort);
        await agent.HelloAsync("fake-2", disk, Size);
        await agent.SendDeltaAsync(FakeAgent.Write(disk, 1, 0, Pattern(10)));
        Assert.Equal(1, Assert.IsType<Ack>(await agent.ReadControlAsync()).DurableThrough);

        await agent.SendDeltaAsync(FakeAgent.Write(disk, 5, 0, Pattern(11)));
        var nak = Assert.IsType<Nak>(await agent.ReadControlAsync());
        Assert.Equal(2, nak.ResendFrom);
        Assert.Contains("#2", nak.Reason, StringComparison.Ordinal);
        Assert.Contains("#5", nak.Reason, StringComparison.Ordinal);

        await agent.SendDeltaAsync(FakeAgent.Write(disk, 2, 64 << 10, Pattern(12)));
        Assert.Equal(2, Assert.IsType<Ack>(await agent.ReadControlAsync()).DurableThrough);

        // A reconnecting agent is told to continue after #2: the out-of-order delta was never spooled.
        await using var again = await FakeAgent.ConnectAsync(Node.PsPort);
        Assert.Equal(2, (await again.HelloAsync("fake-2", disk, Size)).DurableThrough[disk]);
    }

    [Fact]
    public async Task Garbage_and_oversized_frames_close_only_that_connection()
    {
        const string live = "live";
        await using var healthy = await FakeAgent.ConnectAsync(Node.PsPort);
        await healthy.HelloAsync("fake-live", live, Size);
        await healthy.SendDeltaAsync(FakeAgent.Write(live, 1, 0, Pattern(20)));
        Assert.IsType<Ack>(await healthy.ReadControlAsync());

        // An HTTP request to the data port: its first four bytes read as a huge frame length.
        await using (var http = await FakeAgent.ConnectAsync(Node.PsPort))
        {
            await http.SendRawAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            Assert.True(await http.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "garbage as the first frame did not close the connection");
        }

        // After a good hello: a frame header claiming more than FrameIo.MaxFrame.
        await using (var big = await FakeAgent.ConnectAsync(Node.PsPort))
        {
            await big.HelloAsync("fake-big", "big", Size);
            var header = new byte[5];
            BitConverter.TryWriteBytes(header.AsSpan(0, 4), FrameIo.MaxFrame + 1);
            header[4] = (byte)FrameType.Delta;
            await big.SendRawAsync(header);
            Assert.True(await big.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "an oversized frame length did not close the connection");
        }

        // An unknown frame type, and a control frame that is not JSON.
        await using (var odd = await FakeAgent.ConnectAsync(Node.PsPort))
        {
            await odd.HelloAsync("fake-odd", "odd", Size);
            await odd.SendRawAsync([3, 0, 0, 0, 9, 1, 2, 3]);
            Assert.True(await odd.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "an unknown frame type did not close the connection");
        }
        await using (var json = await FakeAgent.ConnectAsync(Node.PsPort))
        {
            await json.HelloAsync("fake-json", "json", Size);
            var body = Encoding.UTF8.GetBytes("{not json");
            await json.SendFrameAsync(FrameType.Control, body);
            Assert.True(await json.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "a control frame that is not JSON did not close the connection");
        }

        // The process server still serves: the open connection keeps streaming, a new one is accepted.
        await healthy.SendDeltaAsync(FakeAgent.Write(live, 2, 64 << 10, Pattern(21)));
        Assert.Equal(2, Assert.IsType<Ack>(await healthy.ReadControlAsync()).DurableThrough);
        await using var fresh = await FakeAgent.ConnectAsync(Node.PsPort);
        Assert.Equal(0, (await fresh.HelloAsync("fake-fresh", "fresh", Size)).DurableThrough["fresh"]);
        await fresh.SendDeltaAsync(FakeAgent.Write("fresh", 1, 0, Pattern(22)));
        Assert.Equal(1, Assert.IsType<Ack>(await fresh.ReadControlAsync()).DurableThrough);
        Assert.True(Node.Process is { HasExited: false }, "the node died");
    }

    /// <summary>
    /// An agent that crashes loses its unacknowledged deltas and, restarted, numbers new deltas from the
    /// Resume it is given. Deltas the old connection left appended but not yet committed in the spool must
    /// not shadow the new ones carrying the same sequence numbers.
    /// </summary>
    [Fact]
    public async Task Restarted_agent_deltas_are_not_shadowed_by_the_dead_connections_uncommitted_tail()
    {
        const string disk = "renumber";
        var first = Pattern(40);
        var stale = Pattern(41);
        var fresh = Pattern(42);
        await using (var dying = await FakeAgent.ConnectAsync(Node.PsPort))
        {
            await dying.HelloAsync("fake-renumber", disk, Size);
            await dying.SendDeltaAsync(FakeAgent.Write(disk, 1, 0, first));
            Assert.Equal(1, Assert.IsType<Ack>(await dying.ReadControlAsync()).DurableThrough);
            // #2 and #3 arrive in one burst with a broken frame right behind them: the process server appends
            // them but the session dies before it commits and acknowledges them (as when an agent is killed).
            var burst = new List<byte>();
            foreach (var d in new[] { FakeAgent.Write(disk, 2, 64 << 10, stale), FakeAgent.Write(disk, 3, 128 << 10, stale) })
            {
                var body = SiteRecovery.Contracts.DataPath.DeltaCodec.Encode(d);
                burst.AddRange(BitConverter.GetBytes(body.Length));
                burst.Add((byte)FrameType.Delta);
                burst.AddRange(body);
            }
            burst.AddRange(BitConverter.GetBytes(int.MaxValue));
            burst.Add((byte)FrameType.Delta);
            await dying.SendRawAsync(burst.ToArray());
            Assert.True(await dying.ClosedByPeerAsync(TimeSpan.FromSeconds(10)));
        }

        // The restarted agent is told where to continue and numbers its next write from there.
        await using var restarted = await FakeAgent.ConnectAsync(Node.PsPort);
        var resume = await restarted.HelloAsync("fake-renumber", disk, Size);
        var next = resume.DurableThrough[disk] + 1;
        await restarted.SendDeltaAsync(FakeAgent.Write(disk, next, 512 << 10, fresh));
        ControlMessage reply;
        try { reply = await restarted.ReadControlAsync(TimeSpan.FromSeconds(10)); }
        catch (OperationCanceledException) { throw new Xunit.Sdk.XunitException($"no answer to delta #{next} (Resume said {next - 1}): the process server dropped it as a resend overlap"); }
        Assert.Equal(next, Assert.IsType<Ack>(reply).DurableThrough);

        await WaitAppliedAsync(disk, next);
        var output = fixture.Dir["renumber.recovered.img"];
        var r = await Node.Api.PostAsync("api/recover", new { disk, sequence = next, output });
        Assert.True(r.Status == HttpStatusCode.OK, r.Text);
        var image = await File.ReadAllBytesAsync(output);
        Assert.True(image.AsSpan(512 << 10, fresh.Length).SequenceEqual(fresh), $"the restarted agent's delta #{next} is not in the replica");
    }

    [Fact]
    public async Task Recover_into_an_existing_file_is_refused_naming_the_path()
    {
        const string disk = "api";
        await using var agent = await FakeAgent.ConnectAsync(Node.PsPort);
        await agent.HelloAsync("fake-api", disk, Size);
        await agent.SendDeltaAsync(FakeAgent.Write(disk, 1, 0, Pattern(30)));
        Assert.IsType<Ack>(await agent.ReadControlAsync());
        await WaitAppliedAsync(disk, 1);

        var existing = fixture.Dir["existing.img"];
        await File.WriteAllTextAsync(existing, "keep me");
        var r = await Node.Api.PostAsync("api/recover", new { disk, sequence = 1, output = existing });
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains(existing, r.Error, StringComparison.Ordinal);
        Assert.Equal("keep me", await File.ReadAllTextAsync(existing));

        var missing = fixture.Dir["never.img"];
        r = await Node.Api.PostAsync("api/recover", new { disk, bookmark = "no-such-bookmark-42", output = missing });
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        Assert.Contains("no-such-bookmark-42", r.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));

        // A disk id that would leave the master target's disks folder is refused by name.
        r = await Node.Api.PostAsync("api/recover", new { disk = "../escape", sequence = 1, output = missing });
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("../escape", r.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public async Task Bookmark_without_disks_is_a_bad_request()
    {
        var r = await Node.Api.PostAsync("api/bookmarks", new { name = "empty", disks = Array.Empty<string>() });
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("disks", r.Error, StringComparison.Ordinal);
        r = await Node.Api.PostAsync("api/bookmarks", new { name = "none" });
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
    }
}
