using System.Collections.Concurrent;
using System.Net;
using SiteRecovery.Capture.Nbd;

namespace SiteRecovery.Capture.Tests;

/// <summary>A running server over two memory exports and one read-only export, collecting log lines.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const int Max = 64 * 1024;
    public MemoryExport Disk { get; } = new("disk", 1 << 20);
    public MemoryExport Small { get; } = new("small", 10_000);
    public MemoryExport Ro { get; } = new("ro", 8192, readOnly: true);
    public ConcurrentQueue<string> Log { get; } = new();
    public NbdServer Server { get; }
    public EndPoint EndPoint => Server.LocalEndPoint!;

    private TestServer(EndPoint? endpoint, TimeSpan? shutdownGrace, NbdTls? tls)
    {
        var exports = new Dictionary<string, INbdExport> { ["disk"] = Disk, ["small"] = Small, ["ro"] = Ro };
        new Random(42).NextBytes(Disk.Data);
        new Random(7).NextBytes(Ro.Data);
        Server = new NbdServer(endpoint ?? new IPEndPoint(IPAddress.Loopback, 0), exports,
            new NbdServerOptions
            {
                MaxRequest = Max, Log = Log.Enqueue, DefaultExportName = "disk", HandshakeTimeout = TimeSpan.FromSeconds(5),
                ShutdownGrace = shutdownGrace ?? new NbdServerOptions().ShutdownGrace, Tls = tls,
            });
    }

    public static async Task<TestServer> StartAsync(EndPoint? endpoint = null, TimeSpan? shutdownGrace = null, NbdTls? tls = null)
    {
        var s = new TestServer(endpoint, shutdownGrace, tls);
        await s.Server.StartAsync();
        return s;
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
