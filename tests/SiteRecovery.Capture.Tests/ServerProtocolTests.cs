using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>Drives the server with the in-process test client: handshake, options, commands and bad input.</summary>
public class ServerProtocolTests
{
    private static readonly ushort ExpectedFlags = (ushort)(NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush
        | NbdTransmissionFlags.SendFua | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.CanMultiConn);

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>After bad input the server must still serve a fresh connection, and the export must match the model.</summary>
    private static async Task AssertStillServesAsync(TestServer s, byte[] expectedDisk)
    {
        var (c, info) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            Assert.Equal(1 << 20, info.Size);
            var (err, data) = await c.ReadAsync(0, 4096);
            Assert.Equal(NbdError.None, err);
            Assert.Equal(expectedDisk.AsSpan(0, 4096).ToArray(), data);
            await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0);
            Assert.True(await c.IsClosedByServerAsync());
        }
        Assert.Equal(expectedDisk, s.Disk.Data);
        Assert.DoesNotContain(s.Log, l => l.Contains("SERVER BUG") || l.Contains("unexpected error"));
    }

    [Fact]
    public async Task Greeting_is_fixed_newstyle_with_no_zeroes_and_binds_a_real_port()
    {
        await using var s = await TestServer.StartAsync();
        Assert.NotEqual(0, ((IPEndPoint)s.EndPoint).Port);
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        Assert.Equal(3, c.ServerFlags);
    }

    [Theory]
    [InlineData(5u)]        // unknown bit
    [InlineData(0x80000001u)]
    public async Task Bad_client_flags_close_the_connection(uint flags)
    {
        await using var s = await TestServer.StartAsync();
        var before = (byte[])s.Disk.Data.Clone();
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(flags);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await AssertStillServesAsync(s, before);
    }

    [Fact]
    public async Task List_returns_every_export_then_ack_and_rejects_data()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.List, []);
        var names = new List<string>();
        while (true)
        {
            var (opt, type, data) = await c.ReadOptionReplyAsync();
            Assert.Equal(NbdOption.List, opt);
            if (type == NbdReplyType.Ack) break;
            Assert.Equal(NbdReplyType.Server, type);
            var len = BinaryPrimitives.ReadUInt32BigEndian(data);
            names.Add(Encoding.UTF8.GetString(data, 4, (int)len));
        }
        Assert.Equal(["disk", "ro", "small"], names.Order());

        await c.SendOptionAsync(NbdOption.List, [1, 2, 3]);
        Assert.Equal(NbdReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);
    }

    [Fact]
    public async Task Info_describes_export_and_stays_in_negotiation_then_go_enters_transmission()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        var info = await c.GoAsync(NbdOption.Info, "small", [NbdInfoType.Name, NbdInfoType.BlockSize, (NbdInfoType)999]);
        Assert.Equal(NbdReplyType.Ack, info.Final);
        Assert.Equal(10_000, info.Size);
        Assert.Equal(ExpectedFlags, info.Flags);
        Assert.Equal(new NbdBlockSizes(1, 4096, TestServer.Max), info.BlockSizes);
        Assert.Equal("small", info.Name);

        var ro = await c.GoAsync(NbdOption.Info, "ro", []);
        Assert.Equal(NbdReplyType.Ack, ro.Final);
        Assert.Equal(ExpectedFlags | (ushort)NbdTransmissionFlags.ReadOnly, ro.Flags);
        Assert.Contains(NbdInfoType.Export, ro.InfoTypes);

        var go = await c.GoAsync(NbdOption.Go, "small", []);
        Assert.Equal(NbdReplyType.Ack, go.Final);
        Assert.Equal(NbdError.None, await c.WriteAsync(9_999, [0x5a]));
        Assert.Equal(0x5a, s.Small.Data[9_999]);
    }

    [Fact]
    public async Task Empty_name_selects_the_default_export()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        var info = await c.GoAsync(NbdOption.Go, "", []);
        Assert.Equal(NbdReplyType.Ack, info.Final);
        Assert.Equal(1 << 20, info.Size);
    }

    [Fact]
    public async Task Unknown_export_malformed_info_structured_reply_and_unknown_options_get_errors_and_negotiation_continues()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);

        var unknown = await c.GoAsync(NbdOption.Go, "nope", []);
        Assert.Equal(NbdReplyType.ErrUnknown, unknown.Final);
        Assert.Contains("nope", unknown.ErrorText);
        Assert.Equal(NbdReplyType.ErrUnknown, (await c.GoAsync(NbdOption.Info, "nope", [])).Final);

        await c.SendOptionAsync(NbdOption.Go, [0, 0, 0, 50, (byte)'x']); // name length overruns the data
        Assert.Equal(NbdReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);
        await c.SendOptionAsync(NbdOption.Info, [0, 0, 0, 0, 0, 3, 0, 1]); // count 3, one type
        Assert.Equal(NbdReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);

        foreach (var opt in new[] { NbdOption.StructuredReply, NbdOption.StartTls, NbdOption.SetMetaContext, NbdOption.ExtendedHeaders, (NbdOption)12345 })
        {
            await c.SendOptionAsync(opt, opt == NbdOption.SetMetaContext ? new byte[20] : []);
            var (o, type, _) = await c.ReadOptionReplyAsync();
            Assert.Equal(opt, o);
            Assert.Equal(NbdReplyType.ErrUnsupported, type);
        }

        Assert.Equal(NbdReplyType.Ack, (await c.GoAsync(NbdOption.Go, "disk", [])).Final);
        var (err, data) = await c.ReadAsync(0, 16);
        Assert.Equal(NbdError.None, err);
        Assert.Equal(s.Disk.Data.AsSpan(0, 16).ToArray(), data);
    }

    [Fact]
    public async Task Abort_is_acknowledged_and_closes()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.Abort, []);
        var (opt, type, _) = await c.ReadOptionReplyAsync();
        Assert.Equal((NbdOption.Abort, NbdReplyType.Ack), (opt, type));
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Export_name_option_enters_transmission_with_or_without_zeroes(bool noZeroes)
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(noZeroes ? 3u : 1u);
        await c.SendOptionAsync(NbdOption.ExportName, Encoding.UTF8.GetBytes("small"));
        var reply = await c.ReadExactAsync(noZeroes ? 10 : 134);
        Assert.Equal(10_000, BinaryPrimitives.ReadInt64BigEndian(reply));
        Assert.Equal(ExpectedFlags, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)));
        Assert.All(reply.Skip(10), b => Assert.Equal(0, b));
        Assert.Equal(NbdError.None, await c.WriteAsync(0, [1, 2, 3]));
        Assert.Equal([1, 2, 3], s.Small.Data.AsSpan(0, 3).ToArray());
    }

    [Fact]
    public async Task Export_name_option_for_unknown_export_closes()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.ExportName, Encoding.UTF8.GetBytes("nope"));
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Bad_option_magic_or_oversized_option_closes()
    {
        await using var s = await TestServer.StartAsync();
        var before = (byte[])s.Disk.Data.Clone();
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(3);
            await c.SendRawAsync(new byte[16]);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(3);
            var h = new byte[16];
            NbdEncoder.WriteOptionHeader(h, new NbdOptionHeader(NbdOption.Go, uint.MaxValue));
            await c.SendRawAsync(h);
            Assert.True(await c.IsClosedByServerAsync());
        }
        await AssertStillServesAsync(s, before);
    }

    [Fact]
    public async Task Every_command_works_and_reaches_the_export()
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            var data = Pattern(TestServer.Max, 1);
            Assert.Equal(NbdError.None, await c.WriteAsync(1000, data));
            data.CopyTo(model, 1000);
            Assert.Equal(NbdError.None, await c.WriteAsync(70_000, data.AsSpan(0, 3000).ToArray(), NbdCommandFlags.Fua));
            data.AsSpan(0, 3000).CopyTo(model.AsSpan(70_000));
            Assert.Equal(1, s.Disk.FuaWrites);

            var (err, read) = await c.ReadAsync(0, TestServer.Max);
            Assert.Equal(NbdError.None, err);
            Assert.Equal(model.AsSpan(0, TestServer.Max).ToArray(), read);

            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Flush, 0, 0));
            Assert.Equal(1, s.Disk.Flushes);

            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Trim, 2000, 500));
            model.AsSpan(2000, 500).Clear();
            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.WriteZeroes, 5000, 200_000, NbdCommandFlags.NoHole | NbdCommandFlags.Fua));
            model.AsSpan(5000, 200_000).Clear();
            Assert.Equal(2, s.Disk.FuaWrites);
            Assert.Equal(1, s.Disk.Trims);

            // Zero-length requests succeed without reaching the export; the last byte is addressable.
            Assert.Equal(NbdError.None, (await c.ReadAsync(1 << 20, 0)).Error);
            Assert.Equal(NbdError.None, await c.WriteAsync((1 << 20) - 1, [0xee]));
            model[(1 << 20) - 1] = 0xee;

            Assert.Equal(model, s.Disk.Data);
            await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0);
            Assert.True(await c.IsClosedByServerAsync());
        }
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order_with_their_cookies()
    {
        await using var s = await TestServer.StartAsync();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            const int n = 200;
            var sendTask = Task.Run(async () =>
            {
                for (var i = 0; i < n; i++)
                {
                    await c.SendRequestAsync(NbdCommand.Write, (ulong)(i * 4096), 4096, payload: Pattern(4096, i), cookie: (ulong)(2 * i));
                    await c.SendRequestAsync(NbdCommand.Read, (ulong)(i * 4096), 4096, cookie: (ulong)(2 * i + 1));
                }
            });
            for (var i = 0; i < n; i++)
            {
                var w = await c.ReadReplyAsync();
                Assert.Equal((NbdError.None, (ulong)(2 * i)), (w.Error, w.Cookie));
                var r = await c.ReadReplyAsync(4096);
                Assert.Equal((NbdError.None, (ulong)(2 * i + 1)), (r.Error, r.Cookie));
                Assert.Equal(Pattern(4096, i), r.Data);
            }
            await sendTask;
        }
    }

    [Fact]
    public async Task A_disconnect_after_pipelined_writes_answers_and_applies_every_write_first()
    {
        await using var s = await TestServer.StartAsync();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            const int n = 64;
            for (var i = 0; i < n; i++)
                await c.SendRequestAsync(NbdCommand.Write, (ulong)(i * 8192), 8192, payload: Pattern(8192, i + 7), cookie: (ulong)(1000 + i));
            await c.SendRequestAsync(NbdCommand.Disconnect, 0, 0);
            for (var i = 0; i < n; i++)
            {
                var w = await c.ReadReplyAsync();
                Assert.Equal((NbdError.None, (ulong)(1000 + i)), (w.Error, w.Cookie));
            }
            Assert.True(await c.IsClosedByServerAsync());
            for (var i = 0; i < n; i++)
                Assert.Equal(Pattern(8192, i + 7), s.Disk.Data.AsSpan(i * 8192, 8192).ToArray());
        }
    }

    [Fact]
    public async Task Out_of_range_and_invalid_requests_get_errors_and_the_stream_stays_in_sync()
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var size = 1UL << 20;
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            Assert.Equal(NbdError.Inval, (await c.ReadAsync(size - 10, 11)).Error);
            Assert.Equal(NbdError.Inval, (await c.ReadAsync(ulong.MaxValue, 1)).Error);
            Assert.Equal(NbdError.Inval, (await c.ReadAsync(0, TestServer.Max + 1)).Error);
            Assert.Equal(NbdError.NoSpc, await c.WriteAsync(size - 10, Pattern(4096, 3)));      // payload consumed
            Assert.Equal(NbdError.NoSpc, await c.WriteAsync(ulong.MaxValue - 5, Pattern(100, 3)));
            Assert.Equal(NbdError.NoSpc, await c.CommandAsync(NbdCommand.WriteZeroes, size, 1));
            Assert.Equal(NbdError.Inval, await c.CommandAsync(NbdCommand.Trim, size - 1, 2));
            Assert.Equal(NbdError.Inval, await c.CommandAsync((NbdCommand)99, 0, 0));
            Assert.Equal(NbdError.Inval, await c.CommandAsync(NbdCommand.Cache, 0, 4096));
            Assert.Equal(NbdError.Inval, await c.CommandAsync(NbdCommand.BlockStatus, 0, 4096));
            Assert.Equal(NbdError.Inval, (await c.ReadAsync(0, 10, NbdCommandFlags.DontFragment)).Error);
            Assert.Equal(NbdError.Inval, await c.WriteAsync(0, Pattern(64, 9), (NbdCommandFlags)0x8000)); // payload consumed

            // Still in sync: a good write and read go through.
            Assert.Equal(NbdError.None, await c.WriteAsync(8, [9, 9, 9]));
            model[8] = model[9] = model[10] = 9;
            Assert.Equal(model.AsSpan(0, 64).ToArray(), (await c.ReadAsync(0, 64)).Data);
        }
        Assert.Equal(model, s.Disk.Data);
        await AssertStillServesAsync(s, model);
    }

    [Fact]
    public async Task Oversized_write_gets_einval_and_the_connection_is_closed_without_buffering()
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            await c.SendRequestAsync(NbdCommand.Write, 0, 0xF000_0000, cookie: 77);
            var r = await c.ReadReplyAsync();
            Assert.Equal((NbdError.Inval, 77UL), (r.Error, r.Cookie));
            Assert.True(await c.IsClosedByServerAsync());
        }
        await AssertStillServesAsync(s, model);
    }

    [Fact]
    public async Task Read_only_export_refuses_writes_with_eperm_but_reads_and_flushes()
    {
        await using var s = await TestServer.StartAsync();
        var before = (byte[])s.Ro.Data.Clone();
        var (c, info) = await NbdTestClient.OpenAsync(s.EndPoint, "ro");
        await using (c)
        {
            Assert.NotEqual(0, info.Flags & (ushort)NbdTransmissionFlags.ReadOnly);
            Assert.Equal(NbdError.Perm, await c.WriteAsync(0, Pattern(512, 1)));
            Assert.Equal(NbdError.Perm, await c.CommandAsync(NbdCommand.WriteZeroes, 0, 512));
            Assert.Equal(NbdError.Perm, await c.CommandAsync(NbdCommand.Trim, 0, 512));
            Assert.Equal(NbdError.None, await c.CommandAsync(NbdCommand.Flush, 0, 0));
            Assert.Equal(before.AsSpan(0, 512).ToArray(), (await c.ReadAsync(0, 512)).Data);
        }
        Assert.Equal(before, s.Ro.Data);
    }

    public static TheoryData<string, byte[]> BrokenStreams()
    {
        var badMagic = new byte[28];
        NbdEncoder.WriteRequest(badMagic, new NbdRequest(0, NbdCommand.Read, 1, 0, 512));
        badMagic[0] ^= 0xff;
        var truncatedHeader = new byte[28];
        NbdEncoder.WriteRequest(truncatedHeader, new NbdRequest(0, NbdCommand.Read, 1, 0, 512));
        truncatedHeader = truncatedHeader[..12];
        var truncatedWrite = new byte[28 + 100];
        NbdEncoder.WriteRequest(truncatedWrite, new NbdRequest(0, NbdCommand.Write, 1, 0, 4096));
        return new TheoryData<string, byte[]>
        {
            { "bad request magic", badMagic },
            { "truncated header", truncatedHeader },
            { "truncated write payload", truncatedWrite },
            { "garbage", Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: example.invalid\r\n\r\n") },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenStreams))]
    public async Task Broken_transmission_stream_disconnects_cleanly_and_server_keeps_serving(string what, byte[] bytes)
    {
        await using var s = await TestServer.StartAsync();
        var model = (byte[])s.Disk.Data.Clone();
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            await c.SendRawAsync(bytes);
            if (what.StartsWith("truncated"))
                await c.DisposeAsync(); // client vanishes mid-message
            else
                Assert.True(await c.IsClosedByServerAsync(), what);
        }
        await Task.Delay(50);
        await AssertStillServesAsync(s, model);
    }

    [Fact]
    public async Task Export_failures_become_eio_and_are_logged_and_the_connection_survives()
    {
        await using var s = await TestServer.StartAsync();
        s.Disk.FailAsyncAt = 4096;
        s.Disk.FailSyncAt = 8192;
        var (c, _) = await NbdTestClient.OpenAsync(s.EndPoint, "disk");
        await using (c)
        {
            Assert.Equal(NbdError.Io, (await c.ReadAsync(4096, 10)).Error);
            Assert.Equal(NbdError.Io, await c.WriteAsync(4096, [1]));
            Assert.Equal(NbdError.Io, (await c.ReadAsync(8192, 10)).Error);
            Assert.Equal(NbdError.Io, await c.WriteAsync(8192, [1]));
            Assert.Equal(NbdError.None, (await c.ReadAsync(0, 10)).Error);
        }
        Assert.Contains(s.Log, l => l.Contains("disk failure at 4096"));
        Assert.Contains(s.Log, l => l.Contains("synchronous failure at 8192"));
    }

    [Fact]
    public async Task Throwing_log_sink_and_resolver_do_not_break_the_server()
    {
        var disk = new MemoryExport("d", 4096);
        await using var server = new NbdServer(new IPEndPoint(IPAddress.Loopback, 0),
            name => name == "boom" ? throw new InvalidOperationException("resolver broke") : name == "d" ? disk : null,
            () => ["d"], new NbdServerOptions { Log = _ => throw new Exception("log sink broke") });
        await server.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(server.LocalEndPoint!);
        await c.SendClientFlagsAsync(3);
        Assert.Equal(NbdReplyType.ErrUnknown, (await c.GoAsync(NbdOption.Go, "boom", [])).Final);
        Assert.Equal(NbdReplyType.Ack, (await c.GoAsync(NbdOption.Go, "d", [])).Final);
        Assert.Equal(NbdError.Inval, (await c.ReadAsync(4096, 1)).Error);
    }

    [Fact]
    public async Task Dispose_closes_open_connections_and_stops_listening()
    {
        var s = await TestServer.StartAsync();
        var endpoint = s.EndPoint;
        var (c, _) = await NbdTestClient.OpenAsync(endpoint, "disk");
        await using (c)
        {
            Assert.Equal(1, s.Server.ConnectionCount);
            var dispose = s.DisposeAsync().AsTask();
            Assert.True(await c.IsClosedByServerAsync());
            await dispose.WaitAsync(TimeSpan.FromSeconds(5));
        }
        await Assert.ThrowsAnyAsync<SocketException>(() => NbdTestClient.ConnectAsync(endpoint));
    }

    [Fact]
    public async Task Serves_over_a_unix_domain_socket()
    {
        var path = Path.Combine(Path.GetTempPath(), $"nbd-{Guid.NewGuid():N}.sock");
        await using var s = await TestServer.StartAsync(new UnixDomainSocketEndPoint(path));
        var (c, info) = await NbdTestClient.OpenAsync(s.EndPoint, "small");
        await using (c)
        {
            Assert.Equal(10_000, info.Size);
            Assert.Equal(NbdError.None, await c.WriteAsync(0, [4, 5]));
            Assert.Equal([4, 5], (await c.ReadAsync(0, 2)).Data);
        }
    }

    [Fact]
    public async Task Handshake_timeout_drops_silent_clients()
    {
        var disk = new MemoryExport("d", 4096);
        await using var server = new NbdServer(new IPEndPoint(IPAddress.Loopback, 0), new Dictionary<string, INbdExport> { ["d"] = disk },
            new NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(200) });
        await server.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(server.LocalEndPoint!);
        Assert.True(await c.IsClosedByServerAsync());
    }
}
