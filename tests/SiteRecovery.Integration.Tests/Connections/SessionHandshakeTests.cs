using System.Buffers.Binary;
using System.IO.Pipelines;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.Connections;

/// <summary>
/// How a data-path session opens, at both ends, against a real process server and a real master target: the version a
/// hello says decides whether it is served, what crosses before the hello is answered is bounded, and a refusal names
/// what is wrong and leaves nothing behind.
/// </summary>
public sealed class SessionHandshakeTests
{
    const long Size = 1L << 20;

    static async Task<ControlMessage> SayAsync(System.Net.IPEndPoint endpoint, Hello hello)
    {
        await using var client = await WireClient.ConnectAsync(endpoint);
        await client.SendControlAsync(hello);
        return await client.ReadControlAsync();
    }

    [Fact]
    public async Task A_newer_protocol_version_is_refused_with_the_reason_and_nothing_is_made_for_its_disk()
    {
        await using var site = await Site.StartServersAsync("hs-newer");
        foreach (var (endpoint, cache) in new[] { (site.ProcessEndpoint!, Path.Combine(site.Root, "ps-cache", "nd")), (site.TargetEndpoint!, Path.Combine(site.Root, "mt", "replicas", "nd.img")) })
        {
            var answer = await SayAsync(endpoint, new Hello("from-the-future", [new DiskOffer("nd", Size, "m")], ProtocolVersion.Current + 1));
            var refused = Assert.IsType<Refused>(answer);
            Assert.Contains($"version {ProtocolVersion.Current + 1}", refused.Reason);
            Assert.Contains("upgrade this side first", refused.Reason);
            Assert.False(Directory.Exists(cache) || File.Exists(cache), $"{cache} was made for a refused hello");
            Assert.Empty(Directory.EnumerateFileSystemEntries(site.Root, "nd*", SearchOption.AllDirectories));
        }
        Assert.DoesNotContain("nd", site.Process.Disks.Keys);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(ProtocolVersion.Current, ProtocolVersion.Current)]
    public async Task A_hello_is_answered_in_the_version_both_sides_speak(int says, int answered)
    {
        await using var site = await Site.StartServersAsync("hs-version");
        foreach (var endpoint in new[] { site.ProcessEndpoint!, site.TargetEndpoint! })
        {
            var resume = Assert.IsType<Resume>(await SayAsync(endpoint, new Hello("agent-v", [new DiskOffer($"v{says}", Size, "m")], says)));
            Assert.Equal(answered, resume.Version);
            Assert.Equal(0, resume.DurableThrough[$"v{says}"]);
        }
    }

    [Fact]
    public async Task A_hello_without_a_source_or_a_first_frame_that_is_not_a_hello_is_refused_by_name()
    {
        await using var site = await Site.StartServersAsync("hs-bad-hello");
        foreach (var endpoint in new[] { site.ProcessEndpoint!, site.TargetEndpoint! })
        {
            Assert.Equal("the hello names no source", Assert.IsType<Refused>(await SayAsync(endpoint, new Hello(" ", [new DiskOffer("x", Size)]))).Reason);
            await using var client = await WireClient.ConnectAsync(endpoint);
            await client.SendControlAsync(new Ack("x", 5));
            Assert.Equal("the first frame must be a hello", Assert.IsType<Refused>(await client.ReadControlAsync()).Reason);
        }
    }

    [Fact]
    public async Task A_frame_header_before_the_hello_cannot_claim_more_than_a_control_frame()
    {
        await using var site = await Site.StartServersAsync("hs-big-first");
        foreach (var (endpoint, role) in new[] { (site.ProcessEndpoint!, "process server"), (site.TargetEndpoint!, "master target") })
        {
            await using var client = await WireClient.ConnectAsync(endpoint);
            // A delta-sized header and no body: the receiver must refuse it from the header alone.
            var header = new byte[FrameHeader.Size];
            FrameHeader.Write(header, FrameIo.MaxFrame, FrameType.Delta);
            await client.SendRawAsync(header);
            Assert.True(await client.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), $"{role} kept a connection open that claimed a {FrameIo.MaxFrame}-byte first frame");
            await Until(site, $"{role}: ", $"frame length {FrameIo.MaxFrame} is outside 0..{FrameHeader.MaxControlFrame}");
        }
    }

    [Fact]
    public async Task A_connection_that_says_nothing_is_dropped_after_the_hello_timeout()
    {
        var pipe = new Pipe();
        var reader = new FrameReader(pipe.Reader.AsStream());
        var sent = new List<ControlMessage>();
        var e = await Assert.ThrowsAsync<TimeoutException>(() => SessionHandshake.AcceptAsync(reader, (m, _) => { sent.Add(m); return Task.CompletedTask; }, CancellationToken.None, TimeSpan.FromMilliseconds(200)));
        Assert.Contains("no hello within", e.Message);
        Assert.Empty(sent);
        Assert.Equal(FrameHeader.MaxControlFrame, reader.MaxFrame);
    }

    [Fact]
    public void The_connecting_end_names_the_peer_the_disk_and_what_it_answered()
    {
        var hello = new Hello("ps-1", [new DiskOffer("d7", Size)]);
        Assert.Equal("master target refused disk d7: no room", Assert.Throws<InvalidDataException>(() => SessionHandshake.Answered(new Refused("no room"), false, "master target", hello)).Message);
        Assert.Contains("closed the connection before answering the hello for disk d7", Assert.Throws<IOException>(() => SessionHandshake.Answered(null, true, "master target", hello)).Message);
        Assert.Contains("version 0, which does not exist", Assert.Throws<InvalidDataException>(() => SessionHandshake.Answered(new Resume(new Dictionary<string, long>(), 0), false, "master target", hello)).Message);
        Assert.Contains("the control connection with something other than resume", Assert.Throws<InvalidDataException>(() => SessionHandshake.Answered(new Ack("d7", 1), false, "process server", hello with { Disks = [] })).Message);
    }

    [Fact]
    public async Task A_peer_that_answers_the_hello_with_a_delta_is_named_as_answering_something_other_than_resume()
    {
        var answer = new MemoryStream();
        await FrameIo.WriteAsync(answer, FrameType.Delta, new byte[16], CancellationToken.None);
        answer.Position = 0;
        var said = new MemoryStream();
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => SessionHandshake.OpenAsync(said, answer, new Hello("ps-1", [new DiskOffer("d7", Size)]), "master target", CancellationToken.None));
        Assert.Equal("master target answered the hello for disk d7 with something other than resume", e.Message);
        // What was said first is a hello at this side's version.
        said.Position = 0;
        var hello = Assert.IsType<Hello>(ControlMessage.Parse((await FrameIo.ReadAsync(said, CancellationToken.None))!.Value.Body));
        Assert.Equal(ProtocolVersion.Current, hello.Version);
    }

    [Fact]
    public void Frame_headers_are_checked_against_the_readers_bound_and_the_connections_kind()
    {
        var header = new byte[FrameHeader.Size];
        FrameHeader.Write(header, 100, FrameType.Delta);
        Assert.Equal(new FrameHeader(100, FrameType.Delta), FrameHeader.Parse(header, 100));
        Assert.Contains("outside 0..99", Assert.Throws<InvalidDataException>(() => FrameHeader.Parse(header, 99)).Message);
        Assert.Contains("on a control-only connection", Assert.Throws<InvalidDataException>(() => FrameHeader.Parse(header, 100, controlOnly: true)).Message);
        BinaryPrimitives.WriteInt32LittleEndian(header, -1);
        Assert.Contains("frame length -1", Assert.Throws<InvalidDataException>(() => FrameHeader.Parse(header, 100)).Message);
        header = [0, 0, 0, 0, 9];
        Assert.Contains("frame type 9 is unknown", Assert.Throws<InvalidDataException>(() => FrameHeader.Parse(header, 100)).Message);
    }

    static async Task Until(Site site, string first, string second)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            lock (site.Log)
                if (site.Log.Any(l => l.Contains(first) && l.Contains(second))) return;
            await Task.Delay(20);
        }
        lock (site.Log) Assert.Fail($"no log line with '{first}' and '{second}':\n{string.Join("\n", site.Log.TakeLast(20))}");
    }
}
