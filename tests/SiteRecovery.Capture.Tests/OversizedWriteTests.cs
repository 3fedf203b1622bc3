using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Writes above the advertised maximum payload: refused, and the stream kept in sync when the payload is portable.</summary>
public class OversizedWriteTests
{
    // proto.md "Size constraints": a client that did not negotiate sizing may send up to 2^25 bytes; a server with a
    // smaller maximum MUST cleanly error such a command, and such a payload SHOULD NOT be treated as a denial of service.
    [Fact]
    public async Task Write_above_the_maximum_but_within_32_mib_gets_einval_and_the_connection_stays_in_sync()
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            var payload = new byte[2 * TestServer.Max];
            Array.Fill(payload, (byte)0x5a);
            Assert.Equal(NbdError.Inval, await c.WriteAsync(0, payload));

            Assert.Equal(NbdError.None, await c.WriteAsync(100, [1, 2, 3]));
            model[100] = 1; model[101] = 2; model[102] = 3;
            var (err, data) = await c.ReadAsync(0, 4096);
            Assert.Equal(NbdError.None, err);
            Assert.Equal(model.AsSpan(0, 4096).ToArray(), data);
        }
        Assert.Equal(model, s.Disk.Data);
    }
}
