using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Options whose data is longer than the server buffers: answered with an error, and haggling goes on.</summary>
public class OptionSizeTests
{
    private const int Oversized = 100_000; // above the default MaxOptionLength, far below a denial of service

    // proto.md "Termination of the session during option haggling": the server MUST error inbound options and may
    // hang up only on a denial of service; NBD_REP_ERR_TOO_BIG is "the request ... is too large to process";
    // "Baseline": an option the server does not implement MUST get NBD_REP_ERR_UNSUP and the next one MUST still parse.
    [Fact]
    public async Task Oversized_options_get_error_replies_and_negotiation_continues()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);

        var info = new byte[Oversized];
        info[3] = 4; // name length 4, then garbage: never looked at
        foreach (var (option, expected) in new[]
                 {
                     (NbdOption.Info, NbdReplyType.ErrTooBig),
                     (NbdOption.Go, NbdReplyType.ErrTooBig),
                     (NbdOption.List, NbdReplyType.ErrInvalid),
                     ((NbdOption)12345, NbdReplyType.ErrUnsupported),
                 })
        {
            await c.SendOptionAsync(option, info);
            var (o, type, _) = await c.ReadOptionReplyAsync();
            Assert.Equal((option, expected), (o, type));
        }

        Assert.Equal(NbdReplyType.Ack, (await c.GoAsync(NbdOption.Go, "disk", [])).Final);
        var (err, data) = await c.ReadAsync(0, 16);
        Assert.Equal(NbdError.None, err);
        Assert.Equal(s.Disk.Data.AsSpan(0, 16).ToArray(), data);
    }

    // proto.md "NBD_OPT_ABORT": data sent with it SHOULD be ignored, and the reply is NBD_REP_ACK.
    [Fact]
    public async Task Oversized_abort_is_still_acknowledged_and_closes()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.Abort, new byte[Oversized]);
        var (o, type, _) = await c.ReadOptionReplyAsync();
        Assert.Equal((NbdOption.Abort, NbdReplyType.Ack), (o, type));
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Oversized_export_name_closes_because_it_cannot_be_answered()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        var h = new byte[16];
        NbdEncoder.WriteOptionHeader(h, new NbdOptionHeader(NbdOption.ExportName, Oversized));
        await c.SendRawAsync(h);
        Assert.True(await c.IsClosedByServerAsync());
    }
}
