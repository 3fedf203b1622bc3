using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.TestSupport;

namespace SiteRecovery.Capture.Tests;

/// <summary>
/// The server's FORCEDTLS mode (<see cref="NbdServerOptions.Tls"/>) with the in-process client: what is refused before
/// STARTTLS, the TLS handshake with a client certificate from the right CA, from another CA and without one, option
/// haggling over TLS, and what a broken TLS start leaves (nothing: the next client is served).
/// </summary>
public sealed class NbdTlsTests
{
    static readonly X509Certificate2 Ca = TestPki.Authority("nbd-test-ca");
    static readonly X509Certificate2 OtherCa = TestPki.Authority("some-other-ca");
    static readonly X509Certificate2 ServerCert = TestPki.Server(Ca);
    static readonly X509Certificate2 GoodClient = TestPki.Client(Ca, "recovery-tool");
    static readonly X509Certificate2 ForeignClient = TestPki.Client(OtherCa, "stranger");

    static NbdTls Tls() => new(ServerCert, [], [Ca]);

    static async Task<NbdTestClient> TlsClientAsync(TestServer s, X509Certificate2? certificate)
    {
        var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.StartTls, []);
        var (opt, type, _) = await c.ReadOptionReplyAsync();
        Assert.Equal((NbdOption.StartTls, NbdReplyType.Ack), (opt, type));
        await c.TlsAsync(certificate, Ca);
        return c;
    }

    static async Task AssertServesOverTlsAsync(TestServer s)
    {
        await using var c = await TlsClientAsync(s, GoodClient);
        var info = await c.GoAsync(NbdOption.Go, "disk", []);
        Assert.Equal(NbdReplyType.Ack, info.Final);
        var (err, data) = await c.ReadAsync(0, 4096);
        Assert.Equal(NbdError.None, err);
        Assert.Equal(s.Disk.Data.AsSpan(0, 4096).ToArray(), data);
    }

    [Fact]
    public async Task Before_starttls_every_option_but_abort_is_answered_tls_required_and_nothing_is_read()
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        foreach (var option in new[] { NbdOption.List, NbdOption.StructuredReply, NbdOption.SetMetaContext, (NbdOption)12345 })
        {
            await c.SendOptionAsync(option, []);
            var (opt, type, text) = await c.ReadOptionReplyAsync();
            Assert.Equal((option, NbdReplyType.ErrTlsRequired), (opt, type));
            Assert.Contains("NBD_OPT_STARTTLS", System.Text.Encoding.UTF8.GetString(text));
        }
        foreach (var option in new[] { NbdOption.Info, NbdOption.Go })
        {
            var refused = await c.GoAsync(option, "disk", []);
            Assert.Equal(NbdReplyType.ErrTlsRequired, refused.Final);
            Assert.Equal(-1, refused.Size); // no NBD_REP_INFO leaked the export's size
        }
        await c.SendOptionAsync(NbdOption.Abort, []);
        Assert.Equal((NbdOption.Abort, NbdReplyType.Ack), (await c.ReadOptionReplyAsync() is var r ? (r.Option, r.Type) : default));
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Export_name_before_starttls_ends_the_session_since_it_cannot_be_refused_with_an_error()
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(3);
            await c.SendOptionAsync(NbdOption.ExportName, "disk"u8.ToArray());
            Assert.True(await c.IsClosedByServerAsync());
        }
        Assert.Contains(s.Log, l => l.Contains("NBD_OPT_EXPORT_NAME before TLS"));
        await AssertServesOverTlsAsync(s);
    }

    [Fact]
    public async Task A_client_without_fixed_newstyle_cannot_start_tls_and_is_let_go()
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(2); // NO_ZEROES only
        Assert.True(await c.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Starttls_with_data_is_invalid_then_a_good_certificate_reads_and_writes_and_a_second_starttls_is_invalid()
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.StartTls, [1, 2, 3]);
        Assert.Equal(NbdReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);

        await c.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
        await c.TlsAsync(GoodClient, Ca);

        // Over TLS: a second STARTTLS is invalid, and options run as without TLS (never NBD_REP_ERR_TLS_REQD).
        await c.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdReplyType.ErrInvalid, (await c.ReadOptionReplyAsync()).Type);
        await c.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdReplyType.ErrUnsupported, (await c.ReadOptionReplyAsync()).Type);
        var info = await c.GoAsync(NbdOption.Go, "disk", [NbdInfoType.BlockSize]);
        Assert.Equal(NbdReplyType.Ack, info.Final);
        Assert.Equal(1 << 20, info.Size);

        var payload = new byte[TestServer.Max];
        new Random(5).NextBytes(payload);
        Assert.Equal(NbdError.None, await c.WriteAsync(8192, payload));
        var (err, back) = await c.ReadAsync(8192, payload.Length);
        Assert.Equal(NbdError.None, err);
        Assert.Equal(payload, back);
        Assert.Equal(payload, s.Disk.Data.AsSpan(8192, payload.Length).ToArray());
        Assert.Contains(s.Log, l => l.Contains("client certificate 'CN=recovery-tool'"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_client_certificate_from_another_ca_or_none_fails_the_handshake_and_the_server_serves_on(bool foreign)
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        var before = (byte[])s.Disk.Data.Clone();
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(3);
            await c.SendOptionAsync(NbdOption.StartTls, []);
            Assert.Equal(NbdReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
            // With TLS 1.3 the client may finish its side before the server has judged its certificate: then the
            // refusal arrives as the connection closing instead of the handshake failing.
            try
            {
                await c.TlsAsync(foreign ? ForeignClient : null, Ca);
                await c.SendOptionAsync(NbdOption.List, []);
                Assert.True(await c.IsClosedByServerAsync());
            }
            catch (Exception e) when (e is AuthenticationException or IOException) { }
        }
        Assert.Contains(s.Log, l => l.Contains("TLS handshake failed"));
        await AssertServesOverTlsAsync(s);
        Assert.Equal(before, s.Disk.Data);
    }

    [Fact]
    public async Task Garbage_after_starttls_closes_that_connection_and_the_server_serves_on()
    {
        await using var s = await TestServer.StartAsync(tls: Tls());
        await using (var c = await NbdTestClient.ConnectAsync(s.EndPoint))
        {
            await c.SendClientFlagsAsync(3);
            await c.SendOptionAsync(NbdOption.StartTls, []);
            Assert.Equal(NbdReplyType.Ack, (await c.ReadOptionReplyAsync()).Type);
            var garbage = new byte[4096];
            new Random(3).NextBytes(garbage);
            await c.SendRawAsync(garbage);
            Assert.True(await c.IsClosedByServerAsync());
        }
        Assert.Contains(s.Log, l => l.Contains("TLS handshake failed"));
        Assert.DoesNotContain(s.Log, l => l.Contains("unexpected error"));
        await AssertServesOverTlsAsync(s);
    }

    [Fact]
    public async Task Without_tls_configured_starttls_is_unsupported_and_options_run_in_plain_text()
    {
        await using var s = await TestServer.StartAsync();
        await using var c = await NbdTestClient.ConnectAsync(s.EndPoint);
        await c.SendClientFlagsAsync(3);
        await c.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdReplyType.ErrUnsupported, (await c.ReadOptionReplyAsync()).Type);
        Assert.Equal(NbdReplyType.Ack, (await c.GoAsync(NbdOption.Go, "disk", [])).Final);
    }
}
