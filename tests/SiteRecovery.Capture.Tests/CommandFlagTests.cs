using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Command flags are accepted only on the commands the protocol documents them for.</summary>
public class CommandFlagTests
{
    // proto.md "Error values": a flag not documented as applicable to the given request SHOULD get NBD_EINVAL;
    // NBD_CMD_FLAG_NO_HOLE is documented for NBD_CMD_WRITE_ZEROES only.
    [Fact]
    public async Task No_hole_is_refused_with_einval_except_on_write_zeroes()
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            Assert.Equal(NbdError.Inval, (await c.ReadAsync(0, 512, NbdCommandFlags.NoHole)).Error);
            Assert.Equal(NbdError.Inval, await c.WriteAsync(0, new byte[512], NbdCommandFlags.NoHole)); // payload consumed
            Assert.Equal(NbdError.Inval, await c.CommandAsync(NbdCommand.Trim, 0, 512, NbdCommandFlags.NoHole));
            Assert.Equal(NbdError.Inval, await c.CommandAsync(NbdCommand.Flush, 0, 0, NbdCommandFlags.NoHole));
            Assert.Equal(0, s.Disk.Trims);
            Assert.Equal(0, s.Disk.Flushes);

            // FUA stays valid on every command (proto.md "Command flags": the server MUST accept it).
            Assert.Equal(NbdError.None, (await c.ReadAsync(0, 16, NbdCommandFlags.Fua)).Error);
            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Flush, 0, 0, NbdCommandFlags.Fua));

            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.WriteZeroes, 4096, 512, NbdCommandFlags.NoHole));
            model.AsSpan(4096, 512).Clear();
            Assert.Equal(model.AsSpan(0, 8192).ToArray(), (await c.ReadAsync(0, 8192)).Data);
        }
        Assert.Equal(model, s.Disk.Data);
    }

    // proto.md "NBD_CMD_DISC": there is no reply to it and the client sends nothing after it, so even with flags it has
    // no business setting, an error reply would only leave both ends waiting.
    [Theory]
    [InlineData((ushort)NbdCommandFlags.NoHole)]
    [InlineData((ushort)0xffff)]
    public async Task Disconnect_with_undocumented_flags_still_closes_without_a_reply(ushort flags)
    {
        await using var s = await TestServer.StartAsync();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0, (NbdCommandFlags)flags);
            Assert.True(await c.IsClosedByServerAsync());
        }
    }

    // proto.md "Ordering of messages and writes": a command with NBD_CMD_FLAG_FUA is not answered until what it wrote is
    // persisted. A trim writes here (the range reads back as zeroes), so TRIM with FUA is followed by a flush.
    [Fact]
    public async Task Trim_with_fua_is_persisted_before_the_reply()
    {
        await using var s = await TestServer.StartAsync();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Trim, 0, 4096));
            Assert.Equal(0, s.Disk.Flushes);
            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Trim, 8192, 4096, NbdCommandFlags.Fua));
            Assert.Equal(1, s.Disk.Flushes);
            Assert.Equal(2, s.Disk.Trims);
        }
    }
}
