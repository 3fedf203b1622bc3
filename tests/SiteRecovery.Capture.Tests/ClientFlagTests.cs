using System.Buffers.Binary;
using System.Text;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Client flags the server advertised are accepted, including from clients of plain (not fixed) newstyle.</summary>
public class ClientFlagTests
{
    // proto.md "Client flags": NBD_FLAG_C_FIXED_NEWSTYLE is a SHOULD, and the server MUST drop the connection only for an
    // unknown flag or one it did not advertise; a client without the bit is an older but compliant newstyle client
    // (libnbd's nbd_set_handshake_flags exists to act as one), and NO_ZEROES alone was advertised.
    [Theory]
    [InlineData(0u)]
    [InlineData(2u)]
    public async Task A_client_without_fixed_newstyle_is_served_with_export_name(uint flags)
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(flags);
        await c.SendOptionAsync(NbdOption.ExportName, Encoding.UTF8.GetBytes("small"));
        var noZeroes = (flags & 2) != 0;
        var reply = await c.ReadExactAsync(noZeroes ? 10 : 134);
        Assert.Equal(10_000, BinaryPrimitives.ReadInt64BigEndian(reply));
        Assert.All(reply.Skip(10), b => Assert.Equal(0, b));
        Assert.Equal(NbdError.None, await c.WriteAsync(0, [4, 5, 6]));
        Assert.Equal([4, 5, 6], s.Small.Data.AsSpan(0, 3).ToArray());
    }
}
