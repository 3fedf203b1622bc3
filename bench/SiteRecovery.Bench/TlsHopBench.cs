using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench tls</c>: the CPU-seconds per GiB that mutual TLS adds to one data-path hop. The hop is the real framework
/// (<see cref="SessionListener"/> accepting, <see cref="HopConnector"/> connecting, frames of 1 MiB of random bytes as
/// deltas travel, read by <see cref="FrameReader"/>) on loopback inside this process: plain, TLS 1.3 as the hops run it
/// (SslStream over <see cref="TlsTransport"/>), and TLS with SslStream straight on the socket (the hop before session 16,
/// what the transport saves), in interleaved rounds whose order reverses every other round; the CPU is this process's
/// (both ends of the hop: encryption and decryption), user and system apart, so the difference per GiB is what one hop
/// costs in TLS. Medians and spread printed. Figure 2a with and without TLS is <see cref="TlsReplicationBench"/>.
/// </summary>
public static class TlsHopBench
{
    const string Usage = "usage: srbench tls [--pairs 5] [--mib 1024]";
    const double GiB = 1 << 30;
    const int FrameBytes = 1 << 20;

    /// <summary>How one run's hop is made.</summary>
    enum Hop
    {
        /// <summary>The framework in the clear.</summary>
        Plain,
        /// <summary>The framework with TLS: SslStream over <see cref="TlsTransport"/>, as every data-path hop runs.</summary>
        Tls,
        /// <summary>SslStream straight on the socket, both ends (the hop before session 16): what the transport saves.</summary>
        TlsOnSocket,
    }

    sealed record Run(double MBps, double CpuPerGiB, double UserPerGiB, double SystemPerGiB);

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var pairs = 5;
        var mib = 1024;
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--pairs": pairs = int.TryParse(Value(), CultureInfo.InvariantCulture, out var p) && p is >= 1 and <= 50 ? p : throw new ArgumentException("--pairs: a count in 1..50"); break;
                    case "--mib": mib = int.TryParse(Value(), CultureInfo.InvariantCulture, out var m) && m is >= 16 and <= 65536 ? m : throw new ArgumentException("--mib: a size in 16..65536"); break;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"srbench tls: {e.Message}\n{Usage}");
            return 2;
        }
        var work = Path.Combine(Path.GetTempPath(), $"srbench-tls-{Guid.NewGuid().ToString("n")[..6]}");
        Directory.CreateDirectory(work);
        try
        {
            var (server, client) = Certify(work);
            using var listener = new SessionListener("bench hop", new IPEndPoint(IPAddress.Loopback, 0), tls: new HopListenerTls(HopTlsMode.Optional, server, ComponentKind.Agent));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            // Every TLS run is a new session: the listener says so each time; only what went wrong is printed.
            _ = listener.AcceptAsync(DrainAsync, m => { if (!m.Contains(": TLS session with ", StringComparison.Ordinal)) Console.Error.WriteLine(m); }, stop.Token);
            using var bare = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            bare.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            bare.Listen(4);
            _ = AcceptOnSocketAsync(bare, server, stop.Token);
            var clientTls = new HopClientTls(client, new ExpectedPeer(ComponentKind.ProcessServer, "bench-ps"));
            var payload = RandomNumberGenerator.GetBytes(FrameBytes);
            async Task<SocketHop> ConnectAsync(Hop hop)
            {
                if (hop == Hop.TlsOnSocket) return await ConnectOnSocketAsync((IPEndPoint)bare.LocalEndPoint!, clientTls, ct);
                var c = await HopConnector.ConnectAsync(listener.BoundEndpoint!, hop == Hop.Tls ? clientTls : null, "bench hop", ct);
                return new SocketHop(c.Socket, c.Stream);
            }
            Task<Run> Once(Hop hop, int size) => RunAsync(() => ConnectAsync(hop), payload, size, ct);
            Console.WriteLine($"one hop on loopback, {mib} MiB in {FrameBytes >> 20} MiB frames per run, {pairs} rounds of plain / TLS (SslStream over TlsTransport) / " +
                              $"TLS (SslStream on the socket), order reversed every other round; {Environment.ProcessorCount} cores, {StallBench.LoadAverage()}");
            Hop[] order = [Hop.Plain, Hop.Tls, Hop.TlsOnSocket];
            foreach (var hop in order) await Once(hop, 64); // warm-up: JIT, pools
            var runs = order.ToDictionary(h => h, _ => new List<Run>());
            for (var i = 0; i < pairs; i++)
            {
                foreach (var hop in i % 2 == 0 ? order : order.Reverse()) runs[hop].Add(await Once(hop, mib));
                Console.WriteLine($"  round {i + 1}: " + string.Join("; ", order.Select(h => $"{Name(h)} {runs[h][^1].MBps:0} MB/s, {runs[h][^1].CpuPerGiB:0.00} CPU-s/GiB")));
            }
            foreach (var hop in order)
            {
                var r = runs[hop];
                Console.WriteLine($"{Name(hop),-14} {Median(r.Select(x => x.MBps)),5:0} MB/s, {Median(r.Select(x => x.CpuPerGiB)):0.00} CPU-s/GiB " +
                                  $"(user {Median(r.Select(x => x.UserPerGiB)):0.00}, system {Median(r.Select(x => x.SystemPerGiB)):0.00}; runs {r.Min(x => x.CpuPerGiB):0.00}..{r.Max(x => x.CpuPerGiB):0.00}) (median)");
            }
            void Added(Hop hop)
            {
                var added = runs[Hop.Plain].Zip(runs[hop], (a, b) => b.CpuPerGiB - a.CpuPerGiB).ToList();
                Console.WriteLine($"{Name(hop)} adds {Median(added):0.00} CPU-s/GiB per hop, both ends (rounds {added.Min():0.00}..{added.Max():0.00})");
            }
            Added(Hop.Tls);
            Added(Hop.TlsOnSocket);
            await stop.CancelAsync();
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    static string Name(Hop hop) => hop switch { Hop.Plain => "plain", Hop.Tls => "TLS", _ => "TLS on socket" };

    static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>The receiving end: reads every frame until the sender closes, then says how many bytes it got.</summary>
    static async Task DrainAsync(HopConnection hop, CancellationToken ct)
    {
        await using (hop) await DrainAsync(hop.Stream, ct);
    }

    static async Task DrainAsync(Stream stream, CancellationToken ct)
    {
        var reader = new FrameReader(stream);
        long got = 0;
        while (await reader.ReadPooledAsync(ct) is { } frame)
            using (frame) got += frame.Length;
        await FrameIo.WriteAsync(stream, FrameType.Control, new Ack("bench", got).ToBytes(), ct);
        await stream.FlushAsync(ct);
    }

    /// <summary>The accepting end of <see cref="Hop.TlsOnSocket"/>: the same handshake with SslStream straight on the socket.</summary>
    static async Task AcceptOnSocketAsync(Socket listening, HopCredentials own, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket s;
            try { s = await listening.AcceptAsync(ct); }
            catch (Exception) when (ct.IsCancellationRequested) { return; }
            s.NoDelay = true;
            _ = Task.Run(async () =>
            {
                using (s)
                {
                    using var certificate = own.Load();
                    var (ssl, _) = await HopTls.AcceptAsync(new NetworkStream(s, ownsSocket: false), certificate, ct);
                    await using (ssl) await DrainAsync(ssl, ct);
                }
            }, CancellationToken.None);
        }
    }

    sealed class SocketHop(Socket socket, Stream stream) : IAsyncDisposable
    {
        public Socket Socket => socket;
        public Stream Stream => stream;
        public async ValueTask DisposeAsync()
        {
            await stream.DisposeAsync();
            socket.Dispose();
        }
    }

    static async Task<SocketHop> ConnectOnSocketAsync(IPEndPoint endpoint, HopClientTls tls, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, ct);
        using var own = tls.Own.Load();
        var (ssl, _) = await HopTls.ConnectAsync(new NetworkStream(socket, ownsSocket: false), own, tls.Expected, "bench hop", ct);
        return new SocketHop(socket, ssl);
    }

    static async Task<Run> RunAsync(Func<Task<SocketHop>> connect, byte[] payload, int mib, CancellationToken ct)
    {
        var me = Process.GetCurrentProcess();
        me.Refresh();
        var (user, system) = (me.UserProcessorTime, me.PrivilegedProcessorTime);
        var clock = Stopwatch.StartNew();
        await using var hop = await connect();
        var frames = (long)mib * (1 << 20) / FrameBytes;
        var send = new BufferedStream(hop.Stream, 1 << 20);
        for (var i = 0; i < frames; i++) await FrameIo.WriteAsync(send, FrameType.Delta, payload, ct);
        await send.FlushAsync(ct);
        hop.Socket.Shutdown(SocketShutdown.Send);
        var answer = await FrameIo.ReadAsync(hop.Stream, ct, FrameHeader.MaxControlFrame);
        clock.Stop();
        me.Refresh();
        var bytes = frames * FrameBytes;
        if (answer is null || ControlMessage.Parse(answer.Value.Body) is not Ack ack || ack.DurableThrough < bytes)
            throw new InvalidOperationException($"the receiving end did not get all {bytes} bytes");
        var gib = bytes / GiB;
        var u = (me.UserProcessorTime - user).TotalSeconds / gib;
        var k = (me.PrivilegedProcessorTime - system).TotalSeconds / gib;
        return new Run(bytes / 1e6 / clock.Elapsed.TotalSeconds, u + k, u, k);
    }

    /// <summary>A site authority of this run and two components it certifies, in folders as registration leaves them.</summary>
    static (HopCredentials Server, HopCredentials Client) Certify(string work)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=bench site authority", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));
        HopCredentials Component(ComponentKind kind, string id)
        {
            var folder = Path.Combine(work, id);
            using var key = WriterIdentity.Open(folder);
            var request = new CertificateRequest(new X500DistinguishedName($"CN={id}, OU={kind}"), PublicKey.CreateFromSubjectPublicKeyInfo(key.PublicKey, out _), HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddUri(new Uri($"urn:siterecovery:{HopPeer.KindName(kind)}:{id}"));
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
            using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
            new EnrollmentCertificates(key.Fingerprint, issued.ExportCertificatePem(), ca.ExportCertificatePem()).Store(folder);
            return new HopCredentials(folder);
        }
        return (Component(ComponentKind.ProcessServer, "bench-ps"), Component(ComponentKind.Agent, "bench-vm"));
    }
}
