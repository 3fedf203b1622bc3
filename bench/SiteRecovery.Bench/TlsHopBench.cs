using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SiteRecovery.Connections;
using SiteRecovery.Contracts.Control;
using SiteRecovery.Contracts.Wire;

namespace SiteRecovery.Bench;

/// <summary>
/// <c>srbench tls</c>: the CPU-seconds per GiB that mutual TLS adds to one data-path hop. The hop is the real framework
/// (<see cref="SessionListener"/> accepting, <see cref="HopConnector"/> connecting, frames of 1 MiB of random bytes as
/// deltas travel, read by <see cref="FrameReader"/>) on loopback inside this process, plain and with TLS 1.3 in
/// interleaved pairs (ABBA); the CPU is this process's (both ends of the hop: encryption and decryption), from
/// <see cref="Process.TotalProcessorTime"/>, so the difference per GiB is what one hop costs in TLS. Medians and spread
/// printed. Not figure 2a with and without TLS (a whole site's run): see the report of issue 15.
/// </summary>
public static class TlsHopBench
{
    const string Usage = "usage: srbench tls [--pairs 5] [--mib 1024]";
    const double GiB = 1 << 30;
    const int FrameBytes = 1 << 20;

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
            _ = listener.AcceptAsync(DrainAsync, m => Console.Error.WriteLine(m), stop.Token);
            var clientTls = new HopClientTls(client, new ExpectedPeer(ComponentKind.ProcessServer, "bench-ps"));
            var payload = RandomNumberGenerator.GetBytes(FrameBytes);
            Console.WriteLine($"one hop on loopback, {mib} MiB in {FrameBytes >> 20} MiB frames per run, {pairs} pairs plain / TLS 1.3 (ABBA); {Environment.ProcessorCount} cores");
            await RunAsync(listener.BoundEndpoint!, null, payload, 64, ct); // warm-up: JIT, pools
            await RunAsync(listener.BoundEndpoint!, clientTls, payload, 64, ct);
            var plain = new List<(double MBps, double CpuPerGiB)>();
            var tls = new List<(double MBps, double CpuPerGiB)>();
            for (var i = 0; i < pairs; i++)
            {
                if (i % 2 == 0) { plain.Add(await RunAsync(listener.BoundEndpoint!, null, payload, mib, ct)); tls.Add(await RunAsync(listener.BoundEndpoint!, clientTls, payload, mib, ct)); }
                else { tls.Add(await RunAsync(listener.BoundEndpoint!, clientTls, payload, mib, ct)); plain.Add(await RunAsync(listener.BoundEndpoint!, null, payload, mib, ct)); }
                Console.WriteLine($"  pair {i + 1}: plain {plain[^1].MBps:0} MB/s, {plain[^1].CpuPerGiB:0.00} CPU-s/GiB; TLS {tls[^1].MBps:0} MB/s, {tls[^1].CpuPerGiB:0.00} CPU-s/GiB");
            }
            var added = plain.Zip(tls, (a, b) => b.CpuPerGiB - a.CpuPerGiB).ToList();
            Console.WriteLine($"plain: {Median(plain.Select(r => r.MBps)):0} MB/s, {Median(plain.Select(r => r.CpuPerGiB)):0.00} CPU-s/GiB (median)");
            Console.WriteLine($"TLS:   {Median(tls.Select(r => r.MBps)):0} MB/s, {Median(tls.Select(r => r.CpuPerGiB)):0.00} CPU-s/GiB (median)");
            Console.WriteLine($"TLS adds {Median(added):0.00} CPU-s/GiB per hop, both ends (pairs {added.Min():0.00}..{added.Max():0.00})");
            await stop.CancelAsync();
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    /// <summary>The receiving end: reads every frame until the sender closes, then says how many bytes it got.</summary>
    static async Task DrainAsync(HopConnection hop, CancellationToken ct)
    {
        await using (hop)
        {
            var reader = new FrameReader(hop.Stream);
            long got = 0;
            while (await reader.ReadPooledAsync(ct) is { } frame)
                using (frame) got += frame.Length;
            await FrameIo.WriteAsync(hop.Stream, FrameType.Control, new Ack("bench", got).ToBytes(), ct);
            await hop.Stream.FlushAsync(ct);
        }
    }

    static async Task<(double MBps, double CpuPerGiB)> RunAsync(IPEndPoint endpoint, HopClientTls? tls, byte[] payload, int mib, CancellationToken ct)
    {
        var me = Process.GetCurrentProcess();
        me.Refresh();
        var cpu = me.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await using var hop = await HopConnector.ConnectAsync(endpoint, tls, "bench hop", ct);
        var frames = (long)mib * (1 << 20) / FrameBytes;
        var send = new BufferedStream(hop.Stream, 1 << 20);
        for (var i = 0; i < frames; i++) await FrameIo.WriteAsync(send, FrameType.Delta, payload, ct);
        await send.FlushAsync(ct);
        hop.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var answer = await FrameIo.ReadAsync(hop.Stream, ct, FrameHeader.MaxControlFrame);
        clock.Stop();
        me.Refresh();
        var bytes = frames * FrameBytes;
        if (answer is null || ControlMessage.Parse(answer.Value.Body) is not Ack ack || ack.DurableThrough < bytes)
            throw new InvalidOperationException($"the receiving end did not get all {bytes} bytes");
        return (bytes / 1e6 / clock.Elapsed.TotalSeconds, (me.TotalProcessorTime - cpu).TotalSeconds / (bytes / GiB));
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
