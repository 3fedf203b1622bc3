using SiteRecovery.Contracts.DataPath;
using SiteRecovery.Contracts.Wire;
using SiteRecovery.TestSupport;
using SiteRecovery.Tests.Support;

namespace SiteRecovery.Tests.DataPath;

/// <summary>
/// One writer per disk at a real process server, driven by hand: the same writer at a higher epoch replaces its session
/// at once (the old connection is closed, nothing of it acknowledged after); another key, a replayed epoch and a hello
/// without identity are refused by name and leave the live session replicating; the binding is a file beside the spool.
/// </summary>
public sealed class WriterFencingTests
{
    const long Size = 1L << 20;
    const string Disk = "wf1";

    static Delta Write(long seq, byte fill) =>
        Delta.Create(Disk, seq, DeltaKind.Write, 0, 4096, Enumerable.Repeat(fill, 4096).ToArray(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    static Hello HelloOf(string source) => new(source, [new DiskOffer(Disk, Size, "machine-" + Disk)], ProtocolVersion.Current);

    static async Task<ControlMessage> SayAsync(Site site, ControlMessage hello)
    {
        await using var client = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        await client.SendControlAsync(hello);
        return await client.ReadControlAsync();
    }

    [Fact]
    public async Task The_same_writer_replaces_its_session_and_every_other_hello_is_refused_while_the_live_one_goes_on()
    {
        const string source = "agent-fence";
        await using var site = await Site.StartServersAsync("writer-fence");
        var writer = TestWriters.Of(source);

        await using var first = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        Assert.Equal(0, await first.HelloAsync(source, Disk, Size));
        var firstEpoch = writer.Epoch;
        await first.SendDeltaAsync(Write(1, 0x11));
        await first.AckedAsync(Disk, 1);

        // The same writer again (a restart; the first connection is now half-open): replaced at once, and fenced.
        await using var second = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        Assert.Equal(1, await second.HelloAsync(source, Disk, Size));
        Assert.True(await first.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "the replaced session stayed open");
        await second.SendDeltaAsync(Write(2, 0x22));
        await second.AckedAsync(Disk, 2);

        // Another key with the same source and disk (the reported takeover), a replayed epoch, no identity at all.
        var other = Assert.IsType<Refused>(await SayAsync(site, TestWriters.Other().Sign(HelloOf(source))));
        Assert.Contains(nameof(WriterRefusal.DifferentWriter), other.Reason);
        Assert.Contains(writer.Fingerprint[..16], other.Reason);
        var replay = Assert.IsType<Refused>(await SayAsync(site, writer.SignAt(HelloOf(source), firstEpoch)));
        Assert.Contains(nameof(WriterRefusal.StaleEpoch), replay.Reason);
        Assert.Contains($"epoch {firstEpoch}", replay.Reason);
        var forged = writer.Sign(HelloOf(source));
        var tampered = Assert.IsType<Refused>(await SayAsync(site, forged with { Disks = [new DiskOffer(Disk, Size * 2, "machine-" + Disk)] }));
        Assert.Contains(nameof(WriterRefusal.BadSignature), tampered.Reason);
        await using (var old = await WireClient.ConnectAsync(site.ProcessEndpoint!))
        {
            using var frame = new MemoryStream();
            await FrameIo.WriteAsync(frame, FrameType.Control, HelloOf(source).ToBytes(), default);
            await old.SendRawAsync(frame.ToArray());
            var unsigned = Assert.IsType<Refused>(await old.ReadControlAsync());
            Assert.Contains("no writer identity", unsigned.Reason);
        }

        // None of them disturbed the live session.
        await second.SendDeltaAsync(Write(3, 0x33));
        await second.AckedAsync(Disk, 3);
        Assert.Equal(3, site.Process.Disks[Disk].Spooled);
        var bound = site.Process.WriterOf(Disk)!;
        Assert.Equal(writer.Fingerprint, bound.Fingerprint);
        Assert.True(bound.Epoch > firstEpoch);
        Assert.True(File.Exists(Path.Combine(site.Root, "ps-cache", Disk, "writer")));

        // Released by an operator: the live session is closed and another writer binds.
        Assert.True(await site.Process.ReleaseWriterAsync(Disk, default));
        Assert.True(await second.ClosedByPeerAsync(TimeSpan.FromSeconds(10)), "the released disk's session stayed open");
        Assert.False(await site.Process.ReleaseWriterAsync(Disk, default));
        await using var reinstalled = await WireClient.ConnectAsync(site.ProcessEndpoint!);
        var other2 = TestWriters.Other();
        await reinstalled.SendControlAsync(other2.Sign(HelloOf(source)));
        Assert.IsType<Resume>(await reinstalled.ReadControlAsync());
        Assert.Equal(other2.Fingerprint, site.Process.WriterOf(Disk)!.Fingerprint);
    }
}
