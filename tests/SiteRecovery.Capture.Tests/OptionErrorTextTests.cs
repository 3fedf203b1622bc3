using System.Text;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>The human-readable text of an option error reply is a protocol string even when it quotes the client.</summary>
public class OptionErrorTextTests
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    // proto.md "Conventions": strings (error messages included) are UTF-8, MUST NOT contain NUL and MUST be no
    // longer than 4096 bytes.
    [Theory]
    [InlineData(4096, "x")]
    [InlineData(2048, "\u00e9")]     // two-byte characters: the cut must not split one
    [InlineData(1365, "\u20ac")]     // 4095 bytes of three-byte characters
    [InlineData(3, "a\0b")]          // NUL inside the requested name
    public async Task Unknown_export_error_text_is_a_valid_protocol_string(int repeat, string unit)
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        var name = string.Concat(Enumerable.Repeat(unit, repeat));
        await c.SendOptionAsync(NbdOption.Go, NbdEncoder.EncodeInfoRequest(new NbdInfoRequest(name, [])));
        var (option, type, text) = await c.ReadOptionReplyAsync();
        Assert.Equal((NbdOption.Go, NbdReplyType.ErrUnknown), (option, type));
        Assert.InRange(text.Length, 1, 4096);
        Assert.DoesNotContain((byte)0, text);
        StrictUtf8.GetString(text); // throws on a split character

        Assert.Equal(NbdReplyType.Ack, (await c.GoAsync(NbdOption.Go, "disk", [])).Final);
    }
}
