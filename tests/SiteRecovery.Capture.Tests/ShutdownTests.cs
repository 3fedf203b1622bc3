using System.Diagnostics;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>
/// proto.md: a server that is shutting down lets the request it runs finish, refuses new requests with NBD_ESHUTDOWN
/// (options with NBD_REP_ERR_SHUTDOWN) and waits for the client's NBD_CMD_DISC, closing the connection itself only
/// after a while.
/// </summary>
public class ShutdownTests
{
    [Fact]
    public async Task A_running_write_finishes_new_requests_get_eshutdown_and_disc_lets_the_server_stop()
    {
        var s = await TestServer.StartAsync(shutdownGrace: TimeSpan.FromSeconds(30));
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            var release = new TaskCompletionSource();
            s.Disk.HoldWrites = release.Task;
            var running = new byte[4096];
            running.AsSpan().Fill(0x5a);
            await c.SendRequestAsync(NbdCommand.Write, 0, 4096, payload: running);
            await s.Disk.WriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

            var clock = Stopwatch.StartNew();
            var stopping = s.Server.DisposeAsync().AsTask();
            await Task.Delay(100);
            release.SetResult();
            // The write that was running completes and is applied.
            Assert.Equal(NbdError.None, (await c.ReadReplyAsync()).Error);
            running.CopyTo(model, 0);

            // Anything new is refused, a write's payload included (the stream stays in step), and nothing is applied.
            s.Disk.HoldWrites = null;
            Assert.Equal(NbdError.Shutdown, await c.WriteAsync(8192, new byte[4096]));
            Assert.Equal(NbdError.Shutdown, (await c.ReadAsync(0, 512)).Error);
            Assert.Equal(NbdError.Shutdown, await c.CommandAsync(NbdCommand.Flush, 0, 0));
            Assert.False(stopping.IsCompleted, "the server stopped before the client disconnected or the grace ended");

            await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0);
            Assert.True(await c.IsClosedByServerAsync());
            await stopping.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the server took {clock.Elapsed} to stop after the client's DISC");
        }
        Assert.Equal(model, s.Disk.Data);
    }

    [Fact]
    public async Task A_client_that_never_disconnects_is_closed_when_the_grace_ends()
    {
        var s = await TestServer.StartAsync(shutdownGrace: TimeSpan.FromMilliseconds(300));
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            var clock = Stopwatch.StartNew();
            await s.Server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"stopped after {clock.Elapsed.TotalMilliseconds:0} ms, before its grace");
            Assert.True(await c.IsClosedByServerAsync());
        }
    }

    [Fact]
    public async Task Options_during_shutdown_get_err_shutdown_and_abort_is_still_acknowledged()
    {
        var s = await TestServer.StartAsync(shutdownGrace: TimeSpan.FromSeconds(30));
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3); // FIXED_NEWSTYLE | NO_ZEROES
        await c.SendOptionAsync(NbdOption.List, []);
        Assert.Equal(NbdReplyType.Server, (await c.ReadOptionReplyAsync()).Type); // haggling works before the stop
        while ((await c.ReadOptionReplyAsync()).Type != NbdReplyType.Ack) { }

        var stopping = s.Server.DisposeAsync().AsTask();
        await Task.Delay(100);
        await c.SendOptionAsync(NbdOption.List, []);
        Assert.Equal(NbdReplyType.ErrShutdown, (await c.ReadOptionReplyAsync()).Type);
        var go = await c.GoAsync(NbdOption.Go, "disk", []);
        Assert.Equal(NbdReplyType.ErrShutdown, go.Final);

        await c.SendOptionAsync(NbdOption.Abort, []);
        Assert.Equal(NbdReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
        Assert.True(await c.IsClosedByServerAsync());
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
