using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>A deliberately small NBD client used to drive the server, including with malformed input.</summary>
internal sealed class NbdTestClient : IAsyncDisposable
{
    private static readonly TimeSpan IoTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    // Replaced by the TLS stream once STARTTLS succeeds.
    private Stream _stream;
    private ulong _cookie = 1;

    private NbdTestClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public ushort ServerFlags { get; private set; }

    /// <summary>Connects and reads the 18-byte greeting, checking both magics.</summary>
    public static async Task<NbdTestClient> ConnectAsync(EndPoint endpoint)
    {
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint);
        var client = new NbdTestClient(socket);
        var greeting = await client.ReadExactAsync(18);
        Assert.Equal(NbdMagic.Init, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(NbdMagic.Option, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        client.ServerFlags = BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16));
        return client;
    }

    /// <summary>Connects, sends client flags and selects <paramref name="export"/> with NBD_OPT_GO.</summary>
    public static async Task<(NbdTestClient Client, GoResult Info)> OpenAsync(EndPoint endpoint, string export)
    {
        var client = await ConnectAsync(endpoint);
        await client.SendClientFlagsAsync(3);
        var info = await client.GoAsync(NbdOption.Go, export, [NbdInfoType.BlockSize]);
        Assert.Equal(NbdReplyType.Ack, info.Final);
        return (client, info);
    }

    public Task SendClientFlagsAsync(uint flags)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, flags);
        return SendRawAsync(b);
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(IoTimeout);
        await _stream.WriteAsync(bytes, cts.Token);
    }

    public Task SendOptionAsync(NbdOption option, byte[] data)
    {
        var b = new byte[16 + data.Length];
        NbdEncoder.WriteOptionHeader(b, new NbdOptionHeader(option, (uint)data.Length));
        data.CopyTo(b, 16);
        return SendRawAsync(b);
    }

    public async Task<(NbdOption Option, NbdReplyType Type, byte[] Data)> ReadOptionReplyAsync()
    {
        var h = await ReadExactAsync(20);
        Assert.Equal(NbdMagic.OptionReply, BinaryPrimitives.ReadUInt64BigEndian(h));
        var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(8));
        var type = (NbdReplyType)BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(12));
        var length = BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(16));
        Assert.True(length < 1 << 20, "option reply implausibly long");
        return (option, type, await ReadExactAsync((int)length));
    }

    public sealed record GoResult(NbdReplyType Final, long Size, ushort Flags, NbdBlockSizes? BlockSizes, string? Name, List<NbdInfoType> InfoTypes, string ErrorText);

    /// <summary>Sends NBD_OPT_INFO or NBD_OPT_GO and collects the replies up to ACK or an error.</summary>
    public async Task<GoResult> GoAsync(NbdOption option, string name, NbdInfoType[] requests)
    {
        await SendOptionAsync(option, NbdEncoder.EncodeInfoRequest(new NbdInfoRequest(name, requests)));
        long size = -1;
        ushort flags = 0;
        NbdBlockSizes? sizes = null;
        string? canonical = null;
        var seen = new List<NbdInfoType>();
        while (true)
        {
            var (opt, type, data) = await ReadOptionReplyAsync();
            Assert.Equal(option, opt);
            if (type != NbdReplyType.Info)
                return new GoResult(type, size, flags, sizes, canonical, seen, Encoding.UTF8.GetString(data));
            var info = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data);
            seen.Add(info);
            switch (info)
            {
                case NbdInfoType.Export:
                    Assert.Equal(12, data.Length);
                    size = BinaryPrimitives.ReadInt64BigEndian(data.AsSpan(2));
                    flags = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
                    break;
                case NbdInfoType.BlockSize:
                    Assert.Equal(14, data.Length);
                    sizes = new NbdBlockSizes(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(2)),
                        BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(6)), BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(10)));
                    break;
                case NbdInfoType.Name:
                    canonical = Encoding.UTF8.GetString(data.AsSpan(2));
                    break;
            }
        }
    }

    /// <summary>
    /// Runs the client side of TLS after an acknowledged NBD_OPT_STARTTLS: presents <paramref name="certificate"/> (none
    /// when null) and trusts a server certificate that chains to <paramref name="serverAuthority"/> and names localhost.
    /// </summary>
    public async Task TlsAsync(X509Certificate2? certificate, X509Certificate2 serverAuthority)
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: true);
        using var cts = new CancellationTokenSource(IoTimeout);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(serverAuthority);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = certificate is null ? null : [certificate],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateChainPolicy = policy,
        }, cts.Token);
        _stream = ssl;
    }

    public ulong NextCookie() => _cookie++;

    public async Task SendRequestAsync(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = 0, byte[]? payload = null, ulong? cookie = null)
    {
        var b = new byte[28 + (payload?.Length ?? 0)];
        NbdEncoder.WriteRequest(b, new NbdRequest(flags, command, cookie ?? NextCookie(), offset, length));
        payload?.CopyTo(b, 28);
        await SendRawAsync(b);
    }

    public async Task<(NbdError Error, ulong Cookie, byte[] Data)> ReadReplyAsync(int dataLengthOnSuccess = 0)
    {
        var h = await ReadExactAsync(16);
        Assert.Equal(NbdMagic.SimpleReply, BinaryPrimitives.ReadUInt32BigEndian(h));
        var error = (NbdError)BinaryPrimitives.ReadUInt32BigEndian(h.AsSpan(4));
        var cookie = BinaryPrimitives.ReadUInt64BigEndian(h.AsSpan(8));
        var data = error == NbdError.None && dataLengthOnSuccess > 0 ? await ReadExactAsync(dataLengthOnSuccess) : [];
        return (error, cookie, data);
    }

    public async Task<(NbdError Error, byte[] Data)> ReadAsync(ulong offset, int length, NbdCommandFlags flags = 0)
    {
        var cookie = NextCookie();
        await SendRequestAsync(NbdCommand.Read, offset, (uint)length, flags, cookie: cookie);
        var r = await ReadReplyAsync(length);
        Assert.Equal(cookie, r.Cookie);
        return (r.Error, r.Data);
    }

    public async Task<NbdError> CommandAsync(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = 0, byte[]? payload = null)
    {
        var cookie = NextCookie();
        await SendRequestAsync(command, offset, length, flags, payload, cookie);
        var r = await ReadReplyAsync();
        Assert.Equal(cookie, r.Cookie);
        return r.Error;
    }

    public Task<NbdError> WriteAsync(ulong offset, byte[] data, NbdCommandFlags flags = 0) =>
        CommandAsync(NbdCommand.Write, offset, (uint)data.Length, flags, data);

    public async Task<byte[]> ReadExactAsync(int count)
    {
        var b = new byte[count];
        using var cts = new CancellationTokenSource(IoTimeout);
        await _stream.ReadExactlyAsync(b, cts.Token);
        return b;
    }

    /// <summary>True when the server closes the connection (EOF or reset) within the timeout; false if data arrives.</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        var b = new byte[1];
        using var cts = new CancellationTokenSource(IoTimeout);
        try
        {
            return await _stream.ReadAsync(b, cts.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("server neither closed the connection nor sent anything");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
