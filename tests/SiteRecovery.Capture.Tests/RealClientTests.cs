using System.Collections.Concurrent;
using System.Net;
using SiteRecovery.Capture.Nbd;
using SiteRecovery.Contracts.Processes;

namespace SiteRecovery.Capture.Tests;

/// <summary>Real NBD clients (qemu-io, nbdcopy, nbdinfo, fio) against a FileExport served on 127.0.0.1:0.</summary>
public sealed class RealClientTests : IAsyncLifetime
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"nbd-real-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();
    private FileExport? _disk;
    private FileExport? _small;
    private NbdServer? _server;

    private string DiskPath => Path.Combine(_dir, "disk.img");
    private string SmallPath => Path.Combine(_dir, "small.img");
    private int Port => ((IPEndPoint)_server!.LocalEndPoint!).Port;
    private string Uri(string name) => $"nbd://127.0.0.1:{Port}/{name}";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _disk = FileExport.Create(DiskPath, 64L << 20, "disk");
        _small = FileExport.Create(SmallPath, 8L << 20, "small");
        _server = new NbdServer(new IPEndPoint(IPAddress.Loopback, 0),
            new Dictionary<string, INbdExport> { ["disk"] = _disk, ["small"] = _small },
            new NbdServerOptions { Log = _log.Enqueue });
        await _server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
        _disk?.Dispose();
        _small?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Diagnostics() => string.Join('\n', _log.TakeLast(20));

    [Fact]
    public async Task Qemu_io_writes_and_verifies_a_pattern()
    {
        var output = (await ExternalTool.RunOkAsync("qemu-io", ["-f", "raw", Uri("disk"),
            "-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M", "-c", "write -z 512k 4k", "-c", "read -P 0 512k 4k", "-c", "flush"], ToolTimeout)).Output;
        Assert.DoesNotContain("fail", output, StringComparison.OrdinalIgnoreCase);
        var bytes = new byte[1 << 20];
        await using (var f = File.OpenRead(DiskPath)) await f.ReadExactlyAsync(bytes);
        Assert.All(bytes.AsSpan(0, 512 * 1024).ToArray(), b => Assert.Equal(0xab, b));
        Assert.All(bytes.AsSpan(512 * 1024, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(64L << 20, new FileInfo(DiskPath).Length);
    }

    [Fact]
    public async Task Nbdcopy_round_trips_a_file_through_the_export()
    {
        var source = Path.Combine(_dir, "source.bin");
        var back = Path.Combine(_dir, "back.bin");
        var data = new byte[8 << 20];
        new Random(5).NextBytes(data);
        await File.WriteAllBytesAsync(source, data);
        await ExternalTool.RunOkAsync("nbdcopy", [source, Uri("small")], ToolTimeout);
        var inExport = await File.ReadAllBytesAsync(SmallPath);
        Assert.True(data.SequenceEqual(inExport), "export file differs from source\n" + Diagnostics());
        await ExternalTool.RunOkAsync("nbdcopy", [Uri("small"), back], ToolTimeout);
        var copiedBack = await File.ReadAllBytesAsync(back);
        Assert.True(data.SequenceEqual(copiedBack), "copied-back file differs from source\n" + Diagnostics());
    }

    [Fact]
    public async Task Nbdinfo_lists_exports_with_sizes()
    {
        var output = (await ExternalTool.RunOkAsync("nbdinfo", ["--list", $"nbd://127.0.0.1:{Port}"], ToolTimeout)).Output;
        Assert.Contains("disk", output);
        Assert.Contains("small", output);
        Assert.Contains((64L << 20).ToString(), output);
        var single = (await ExternalTool.RunOkAsync("nbdinfo", [Uri("small")], ToolTimeout)).Output;
        Assert.Contains((8L << 20).ToString(), single);
        Assert.Contains("block_size_maximum: 33554432", single);
    }

    // What libnbd reads from the transmission flags must be exactly what the server implements (proto.md
    // "Transmission flags": the server MUST NOT set a flag for a feature it does not support). Exit 0: can, 2: cannot.
    [Theory]
    [InlineData("read", 0)]
    [InlineData("write", 0)]
    [InlineData("flush", 0)]
    [InlineData("fua", 0)]
    [InlineData("trim", 0)]
    [InlineData("zero", 0)]
    [InlineData("fast-zero", 2)]
    [InlineData("cache", 2)]
    [InlineData("df", 2)]
    [InlineData("multi-conn", 0)]
    public async Task Nbdinfo_sees_only_the_capabilities_the_server_implements(string capability, int exitCode)
    {
        var run = await ExternalTool.RunAsync("nbdinfo", ["--can", capability, Uri("disk")], ToolTimeout);
        Assert.True(run.ExitCode == exitCode, $"nbdinfo --can {capability} exited with {run.ExitCode}:\n{run.Output}");
    }

    [Fact]
    public async Task Fio_random_writes_verify()
    {
        var output = (await ExternalTool.RunOkAsync("fio", ["--name=t", "--ioengine=nbd", $"--uri={Uri("disk")}",
            "--rw=randwrite", "--bs=64k", "--iodepth=8", "--size=64M", "--verify=crc32c", "--do_verify=1"], ToolTimeout)).Output;
        Assert.DoesNotContain("verify: bad", output);
        Assert.Contains("err= 0", output);
        Assert.DoesNotContain(_log, l => l.Contains("export failed"));
    }
}
